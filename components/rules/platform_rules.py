"""Rules about the platform around the accelerators: networks, host maintenance, security, data, cost."""

from collections import defaultdict
from typing import Any, Iterable, Mapping

from ai_clusters.core import labels as contract
from ai_clusters.core.accelerators import (
    CLUSTER as GKE_CLUSTER,
    INSTANCE,
    NODE_POOL,
    TEMPLATE,
    TPU_QUEUED_DYNAMIC,
    TPU_QUEUED_TYPES,
    TPU_VM,
    VERTEX_ENDPOINT,
    VM_TYPES,
    queued_request,
)
from ai_clusters.core.catalog import catalog
from ai_clusters.core.cost import at_least, resource_cost
from ai_clusters.core.enums import GpuDirect, NicType
from ai_clusters.core.nics import extra_nic_plan, family_uses_gpu_nics
from ai_clusters.rules.base import Resource, Rule, Violation, as_list, last_segment

NETWORK = "gcp:compute/network:Network"
RESOURCE_POLICY = "gcp:compute/resourcePolicy:ResourcePolicy"
DATA_TYPES = {
    "gcp:filestore/instance:Instance": "Filestore instance",
    "gcp:lustre/instance:Instance": "Managed Lustre instance",
    "gcp:parallelstore/instance:Instance": "Parallelstore instance",
    "gcp:storage/bucket:Bucket": "bucket",
    "gcp:compute/disk:Disk": "persistent disk",
}
DEFAULT_SA_SUFFIX = "-compute@developer.gserviceaccount.com"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


# ---- networking complete -----------------------------------------------------------------------

def _nic_problems(fam, gpus: int, nics: list[dict], networks: dict[str, Resource], what: str) -> list[str]:
    want = extra_nic_plan(fam) if family_uses_gpu_nics(fam, gpus) else []
    if not want:
        return []
    problems = []
    if len(nics) != len(want):
        kinds = ", ".join(f"{sum(1 for w in want if w[0] == t)} {t.value}" for t in NicType if any(w[0] == t for w in want))
        problems.append(f"{fam.name} needs {len(want)} {what} after the host one ({kinds}) for its full bandwidth; it has {len(nics)}")
        return problems
    for i, ((nic_type, mtu, roce), nic) in enumerate(zip(want, nics), start=1):
        got_type = str(nic.get("nicType") or ("GVNIC" if what == "node networks" else "")).upper()
        if what != "node networks" and got_type != nic_type.value:
            problems.append(f"nic{i} must be {nic_type.value}, not {got_type or 'unset'}")
        net = networks.get(last_segment(nic.get("network")))
        if net is None:
            continue  # a network of another stack: its MTU and profile cannot be seen from here
        net_mtu = net.props.get("mtu")
        if net_mtu is not None and int(net_mtu) != mtu:
            problems.append(f"nic{i} sits on network {last_segment(nic.get('network'))} with MTU {int(net_mtu)}; {fam.name} needs {mtu}")
        profile = str(net.props.get("networkProfile") or "")
        if roce and not profile.endswith("-vpc-roce"):
            problems.append(f"nic{i} sits on network {last_segment(nic.get('network'))}, which lacks the zone's RoCE network profile")
    return problems


def _networking(resources: list[Resource], _cfg: Mapping[str, Any]) -> Iterable[Violation]:
    networks = {last_segment(r.props.get("name") or r.name): r for r in resources if r.type == NETWORK}
    policies = {last_segment(r.props.get("name") or r.name): r for r in resources if r.type == RESOURCE_POLICY}
    for r in resources:
        for use in r.uses:
            fam = use.family
            if use.kind != "gpu" or fam is None or fam.gpudirect == GpuDirect.NONE:
                continue
            nodes = contract.read_int(use.labels, contract.NODES) or use.nodes
            if r.type in VM_TYPES:
                nics = as_list(r.props.get("networkInterfaces"))
                extra = nics[1:]
                for p in _nic_problems(fam, use.gpus_per_node, extra, networks, "NICs"):
                    yield Violation(p, r.urn)
                if nodes > 1:
                    policies_in = r.props.get("resourcePolicies")
                    attached = [last_segment(p) for p in (as_list(policies_in) or ([policies_in] if policies_in else []))]
                    if not attached:
                        yield Violation(f"{nodes} nodes of {fam.name} need a compact placement policy (resourcePolicies is empty)", r.urn)
                    for name in attached:
                        pol = policies.get(name)
                        group = (pol.props.get("groupPlacementPolicy") or {}) if pol else None
                        if pol is not None and str(group.get("collocation", "")).upper() != "COLLOCATED":
                            yield Violation(f"placement policy {name} is not compact (collocation must be COLLOCATED)", r.urn)
            elif r.type == NODE_POOL:
                config = r.props.get("networkConfig") or {}
                extra = as_list(config.get("additionalNodeNetworkConfigs"))
                for p in _nic_problems(fam, use.gpus_per_node, extra, networks, "node networks"):
                    yield Violation(p, r.urn)
                queued = (r.props.get("queuedProvisioning") or {}).get("enabled")
                placement = str((r.props.get("placementPolicy") or {}).get("type") or "").upper()
                if nodes > 1 and not queued and placement != "COMPACT":
                    yield Violation(f"{nodes} nodes of {fam.name} need placementPolicy.type COMPACT", r.urn)


NETWORKING_COMPLETE = Rule(
    name="networking-complete",
    description=(
        "GPUDirect families (A3 High 8g, A3 Mega, A3 Ultra, A4, A4X) have every GPU/RDMA NIC, on networks of the right MTU "
        "and RoCE profile, and more than one node has a compact placement policy."
    ),
    level="mandatory",
    remediation=(
        "Attach the networks of a ClusterNetwork built for the family (ClusterNetwork.attachment(family, zone)) in order, "
        "and a compact placement policy (GpuVmCluster and the node pools add one for more than one node)."
    ),
    check_stack=_networking,
)


# ---- host maintenance --------------------------------------------------------------------------

def _host_maintenance(r: Resource, _cfg: Mapping[str, Any]) -> Iterable[str]:
    if r.type not in VM_TYPES or not any(u.kind == "gpu" for u in r.uses):
        return
    value = str((r.props.get("scheduling") or {}).get("onHostMaintenance") or "MIGRATE (default)")
    if value.upper() != "TERMINATE":
        yield f"GPU VMs cannot live-migrate: scheduling.onHostMaintenance must be TERMINATE, not {value}"


GPU_HOST_MAINTENANCE = Rule(
    name="gpu-host-maintenance",
    description="GPU VMs terminate on host maintenance (they cannot live-migrate).",
    level="mandatory",
    remediation="Set scheduling.onHostMaintenance = TERMINATE (ai-clusters' VM settings do).",
    check=_host_maintenance,
)


# ---- secure accelerators -----------------------------------------------------------------------

def _default_sa_with_cloud_platform(account: Mapping[str, Any] | None, scopes_key: str = "scopes") -> bool:
    if not account:
        return False
    email = str(account.get("email") or "default")
    scopes = [str(s) for s in as_list(account.get(scopes_key))]
    return (email == "default" or email.endswith(DEFAULT_SA_SUFFIX)) and (CLOUD_PLATFORM in scopes or "cloud-platform" in scopes)


def _secure_boot_off_for_dkms(r: Resource) -> bool:
    """Secure Boot is off, labelled as such, on a machine type whose GPUDirect set-up compiles a kernel module at boot or
    into its image (the catalog's `node_setup.dkms_secure_boot` says why): accepted; off on any other machine, or
    unlabelled, is not."""
    if (r.labels or {}).get(contract.SECURE_BOOT) != contract.SECURE_BOOT_OFF_DKMS:
        return False
    data = catalog().data
    flavors = {use.family.gpudirect for use in r.uses if use.kind == "gpu" and use.family is not None}
    hosts = data.node_setup.gpudirect if data.node_setup is not None else []
    return any(x.flavor in flavors and x.builds_kernel_modules for x in [*hosts, *data.slurm.image_builds])


def _secure(r: Resource, _cfg: Mapping[str, Any]) -> Iterable[str]:
    props = r.props
    if r.type == GKE_CLUSTER:
        private = props.get("privateClusterConfig") or {}
        if not private.get("enablePrivateNodes"):
            yield "GKE nodes must be private: privateClusterConfig.enablePrivateNodes = true"
        ip_endpoints = ((props.get("controlPlaneEndpointsConfig") or {}).get("ipEndpointsConfig") or {}).get("enabled")
        authorized = as_list((props.get("masterAuthorizedNetworksConfig") or {}).get("cidrBlocks"))
        if not private.get("enablePrivateEndpoint") and ip_endpoints is not False and not authorized:
            yield (
                "the control plane's public endpoint is open to every address: set privateClusterConfig.enablePrivateEndpoint = true "
                "(reach it through the DNS endpoint) or list the allowed ranges in masterAuthorizedNetworksConfig"
            )
        return
    if r.type == VERTEX_ENDPOINT:
        if not props.get("network") and not (props.get("privateServiceConnectConfig") or {}).get("enablePrivateServiceConnect"):
            if (r.labels or {}).get(contract.WORKLOAD):
                yield "the Vertex AI endpoint is public; peer it to the VPC (network) or use Private Service Connect"
        return
    if not r.uses:
        return
    if r.type in VM_TYPES:
        for i, nic in enumerate(as_list(props.get("networkInterfaces"))):
            if as_list(nic.get("accessConfigs")) or as_list(nic.get("ipv6AccessConfigs")):
                yield f"nic{i} has an external IP; accelerator nodes stay private (Cloud NAT for egress, IAP for SSH)"
        shielded = props.get("shieldedInstanceConfig") or {}
        if not shielded.get("enableSecureBoot") and not _secure_boot_off_for_dkms(r):
            yield "Shielded VM secure boot is off: shieldedInstanceConfig.enableSecureBoot = true"
        metadata = props.get("metadata") or {}
        if str(metadata.get("enable-oslogin", "")).upper() != "TRUE":
            yield "OS Login is off: metadata enable-oslogin = TRUE"
        if _default_sa_with_cloud_platform(props.get("serviceAccount")):
            yield "runs as the default compute service account with the cloud-platform scope; use a dedicated least-privilege account"
    elif r.type == NODE_POOL:
        config = props.get("nodeConfig") or {}
        if _default_sa_with_cloud_platform({"email": config.get("serviceAccount") or "default", "scopes": config.get("oauthScopes")}):
            yield "nodes run as the default compute service account with the cloud-platform scope; use a dedicated account"
        if (config.get("shieldedInstanceConfig") or {}).get("enableSecureBoot") is False:
            yield "Shielded GKE nodes: secure boot is off"
        if (props.get("networkConfig") or {}).get("enablePrivateNodes") is False:
            yield "the node pool turns private nodes off (networkConfig.enablePrivateNodes = false): its nodes get external IPs"
        if str((config.get("workloadMetadataConfig") or {}).get("mode") or "").upper() == "GCE_METADATA":
            yield "pods can read the node's credentials (workloadMetadataConfig.mode GCE_METADATA); use GKE_METADATA (Workload Identity)"
    elif r.type == TPU_VM:
        yield from _tpu_node_problems(props, "the TPU VM")
        yield from _tpu_hardening(props, "the TPU VM")
    elif r.type in TPU_QUEUED_TYPES:
        _, specs = queued_request(r.type, props)
        for spec in specs:
            node = spec.get("node") or {}
            yield from _tpu_node_problems(node, "the queued resource's TPU nodes")
            if r.type == TPU_QUEUED_DYNAMIC:  # pulumi-gcp's V2QueuedResource cannot carry either
                yield from _tpu_hardening(node, "the queued resource's TPU nodes")


def _tpu_hardening(node: Mapping[str, Any], what: str) -> Iterable[str]:
    """Shielded VM secure boot and OS Login on a TPU node."""
    if not (node.get("shieldedInstanceConfig") or {}).get("enableSecureBoot"):
        yield f"{what}: Shielded VM secure boot is off: shieldedInstanceConfig.enableSecureBoot = true"
    if str((node.get("metadata") or {}).get("enable-oslogin", "")).upper() != "TRUE":
        yield f"{what}: OS Login is off: metadata enable-oslogin = TRUE"


def _tpu_node_problems(node: Mapping[str, Any], what: str) -> Iterable[str]:
    """External IPs, or the default compute account: a TPU node without a service account (or scopes) may use every API."""
    if (node.get("networkConfig") or {}).get("enableExternalIps"):
        yield f"{what} has external IPs: networkConfig.enableExternalIps = false"
    account = node.get("serviceAccount") or {}
    email = str(account.get("email") or "")
    scopes = [str(s) for s in as_list(account.get("scopes") or account.get("scope"))]
    if not email:
        yield (
            f"{what} names no service account, so it runs as the default compute service account with access to all "
            "Cloud APIs; set a dedicated least-privilege account (pulumi-gcp's V2QueuedResource cannot: use ai-clusters' TpuQueuedResource)"
        )
    elif (email == "default" or email.endswith(DEFAULT_SA_SUFFIX)) and (not scopes or CLOUD_PLATFORM in scopes or "cloud-platform" in scopes):
        yield f"{what} runs as the default compute service account with the cloud-platform scope; use a dedicated least-privilege account"


SECURE_ACCELERATORS = Rule(
    name="secure-accelerators",
    description=(
        "No external IP on accelerator nodes, Shielded VM (Secure Boot off only where labelled ai-secure-boot=off-dkms on a machine "
        "type whose set-up builds a kernel module with DKMS), OS Login, no default service account with cloud-platform, private GKE "
        "nodes with Workload Identity, and no GKE control plane open to every address."
    ),
    level="mandatory",
    remediation=(
        "Remove access configs (use Cloud NAT and IAP), enable Shielded VM and OS Login, use a dedicated service account, enable private "
        "nodes and GKE_METADATA, and keep the control plane private (DNS endpoint) or limited to authorized networks."
    ),
    check=_secure,
)


# ---- data survives -----------------------------------------------------------------------------

def _data(r: Resource, cfg: Mapping[str, Any]) -> Iterable[str]:
    what = DATA_TYPES.get(r.type)
    if what is None:
        return
    env = (r.labels or {}).get(contract.ENVIRONMENT)
    exempt = env in (cfg.get("exemptEnvironments") or [])
    props = r.props
    protected = (
        r.protect
        or bool(props.get("deletionProtectionEnabled"))
        or bool(props.get("deletionProtection"))
        or str(props.get("deletionPolicy") or "").upper() in ("PREVENT", "ABANDON")
    )
    if not protected and not exempt:
        yield f"the {what} can be deleted by a config change: set protect (and retainOnDelete) or the API's deletion protection"
    if r.type == "gcp:storage/bucket:Bucket":
        if str(props.get("publicAccessPrevention") or "inherited").lower() != "enforced":
            yield "the bucket must enforce public access prevention (publicAccessPrevention = enforced)"
        if not props.get("uniformBucketLevelAccess"):
            yield "the bucket must use uniform bucket-level access"


DATA_SURVIVES = Rule(
    name="data-survives",
    description="File systems, buckets and data disks are protected from deletion; buckets enforce public access prevention and uniform access.",
    level="mandatory",
    remediation="Create stateful resources with protect and retainOnDelete (ai-clusters does unless protectData is false), publicAccessPrevention=enforced and uniform access.",
    check=_data,
    config_schema={
        "exemptEnvironments": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Environments (ai-environment label) where unprotected data is allowed, e.g. throwaway sandboxes.",
        }
    },
)


# ---- budget and environment --------------------------------------------------------------------

def _budget(resources: list[Resource], cfg: Mapping[str, Any]) -> Iterable[Violation]:
    environments: Mapping[str, Mapping[str, Any]] = cfg.get("environments") or {}
    hourly: dict[str, float] = defaultdict(float)
    unpriced: dict[str, int] = defaultdict(int)
    for r in resources:
        env = (r.labels or {}).get(contract.ENVIRONMENT)
        if not env:
            continue
        settings = environments.get(env) or {}
        allowed = settings.get("allowedFamilies")
        if allowed is not None:
            for use in r.uses:
                fid = use.family_id
                if fid is not None and fid not in allowed:
                    yield Violation(f"{env} may not create {fid} ({use.machine_type or use.tpu_type}); allowed there: {', '.join(allowed) or 'none'}", r.urn)
        region = str(r.props.get("region") or "") or "us-central1"
        cost = resource_cost(r.urn, r.type, r.props, region)
        hourly[env] += cost.hourly_usd
        unpriced[env] += len(cost.unpriced)
    for env, usd in sorted(hourly.items()):
        budget = (environments.get(env) or {}).get("hourlyBudgetUsd")
        if budget is not None and usd > float(budget):
            missing = f" ({unpriced[env]} part(s) without a list price not counted)" if unpriced[env] else ""
            amount = at_least(f"${usd:,.2f}", not unpriced[env])
            yield Violation(f"{env} costs {amount}/hour at list prices{missing}, over its budget of ${float(budget):,.2f}/hour")


BUDGET_AND_ENVIRONMENT = Rule(
    name="budget-and-environment",
    description="The stack's hourly list-price cost stays within its environment's budget, and only the environment's allowed families are used.",
    level="mandatory",
    remediation="Shrink the cluster, use spot or flex-start capacity, or raise the environment's budget in the policy config.",
    check_stack=_budget,
    config_schema={
        "environments": {
            "type": "object",
            "default": {},
            "description": "Per environment (ai-environment label): {hourlyBudgetUsd: number, allowedFamilies: [family ids]}.",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "hourlyBudgetUsd": {"type": "number", "minimum": 0},
                    "allowedFamilies": {"type": "array", "items": {"type": "string"}},
                },
                "additionalProperties": False,
            },
        }
    },
)

__all__ = ["BUDGET_AND_ENVIRONMENT", "DATA_SURVIVES", "GPU_HOST_MAINTENANCE", "NETWORKING_COMPLETE", "SECURE_ACCELERATORS", "INSTANCE", "TEMPLATE"]
