"""ClusterNetwork: the host VPC and the accelerator networks a machine family needs.

- Host VPC: one custom-mode VPC, a subnet in the region with Private Google Access and the GKE
  secondary ranges, Cloud Router + Cloud NAT for egress, firewall rules for traffic inside the
  cluster and SSH from Identity-Aware Proxy only, and private services access (Filestore, Lustre,
  Parallelstore, Vertex AI peer through it). No public IP anywhere.
- GPUDirect-TCPX / TCPXO (A3 High 8g, A3 Mega): one VPC per GPU NIC, each with one subnet, at the
  MTU Google documents for the family.
- GPUDirect RDMA (A4X, A4, A3 Ultra): a second gVNIC VPC, and per zone one VPC created with the
  zone's RoCE network profile holding one subnet per RDMA NIC (NIC type MRDMA).

One ClusterNetwork serves every cluster of an environment in a region; `attachment(family, zone)`
gives each cluster its ordered NIC list. All counts and MTUs come from the catalog.
"""

import ipaddress
from typing import Optional, TypedDict

import pulumi
import pulumi_gcp as gcp
from typing_extensions import NotRequired

from ai_clusters.blocks.args import NetworkAttachmentArgs, NicArgs
from ai_clusters.core.catalog import CatalogError, GpuFamily, catalog, one_of, region_of
from ai_clusters.core.enums import GpuDirect, NicType
from ai_clusters.core.nics import GPU_SUBNET_PREFIX, family_uses_gpu_nics, gpu_cidr_problems, subnets
from ai_clusters.core.spec import NetworkSpec, Problem, SpecError, parse_model
from ai_clusters.blocks.outputs import register_typed_outputs
from ai_clusters.blocks.component import provider_project

IAP_RANGE = "35.235.240.0/20"  # Identity-Aware Proxy TCP forwarding source range


# ---- helpers ------------------------------------------------------------------------------------

def roce_profile(project: pulumi.Input[str], zone: str) -> pulumi.Output[str]:
    """The URL of a zone's RoCE network profile, as `gcloud --network-profile=ZONE-vpc-roce` names it."""
    return pulumi.Output.concat(
        "https://www.googleapis.com/compute/beta/projects/", project, f"/global/networkProfiles/{zone}-vpc-roce"
    )


# ---- args and outputs ---------------------------------------------------------------------------

class AcceleratorNetworkArgs(TypedDict):
    """A machine family (and zone) whose accelerator NICs the network must serve."""

    family: str
    """GPU family id from the catalog, e.g. a3-mega, a3-ultra, a4."""
    zone: str
    """Zone of the clusters of that family (RDMA networks are zonal)."""


class ClusterNetworkArgs(TypedDict):
    """Args of ClusterNetwork."""

    region: str
    """Region of the subnets, router and NAT."""
    project: NotRequired[pulumi.Input[str]]
    """Project id; default: the provider's project."""
    accelerator_networks: NotRequired[list[AcceleratorNetworkArgs]]
    """Families (and zones) whose GPU/RDMA NICs need networks; none for gVNIC-only families."""
    host_cidr: NotRequired[str]
    """Host subnet range (default 10.0.0.0/20)."""
    pods_cidr: NotRequired[str]
    """GKE pods secondary range (default 10.64.0.0/14)."""
    services_cidr: NotRequired[str]
    """GKE services secondary range (default 10.68.0.0/20)."""
    gpu_cidr: NotRequired[str]
    """Range split into one /22 per GPU or RDMA subnet (default 192.168.0.0/16)."""
    psa_cidr: NotRequired[str]
    """Range reserved for private services access (default 10.72.0.0/16)."""
    host_mtu: NotRequired[int]
    """Host VPC MTU; default: the largest any requested family needs (1460 when none)."""
    iap_ssh: NotRequired[bool]
    """Allow SSH from Identity-Aware Proxy (default true). No other ingress from outside."""
    private_services_access: NotRequired[bool]
    """Reserve a range and peer it with Google services (Filestore, Lustre, Parallelstore, Vertex AI)."""


class GpuNetwork(TypedDict):
    """One accelerator VPC created by ClusterNetwork."""

    name: str
    """Network name."""
    network: str
    """Network self link."""
    subnetworks: list[str]
    """Subnetwork self links."""
    mtu: int
    """MTU."""
    nic_type: str
    """GVNIC or MRDMA."""
    zone: str
    """Zone of a RoCE network; empty for regional ones."""


class NetworkAttachment(TypedDict):
    """What a cluster of one family plugs in (same keys as NetworkAttachmentArgs)."""

    family: str
    """GPU family id."""
    zone: str
    """Zone."""
    host_network: str
    """Host VPC self link."""
    host_subnetwork: str
    """Host subnet self link."""
    extra_nic_networks: list[str]
    """Networks of the NICs after nic0, in order."""
    extra_nic_subnetworks: list[str]
    """Subnetworks of the NICs after nic0, in order."""
    extra_nic_types: list[str]
    """NIC types of the NICs after nic0, in order."""


class ClusterNetwork(pulumi.ComponentResource):
    """Host VPC with Cloud NAT and IAP-only SSH, plus the GPUDirect/RDMA networks a family needs."""

    host_network: pulumi.Output[str]
    """Self link of the host VPC."""
    host_network_name: pulumi.Output[str]
    """Name of the host VPC."""
    host_subnetwork: pulumi.Output[str]
    """Self link of the host subnet."""
    pods_range_name: pulumi.Output[str]
    """Secondary range of the host subnet for GKE pods."""
    services_range_name: pulumi.Output[str]
    """Secondary range of the host subnet for GKE services."""
    gpu_networks: pulumi.Output[list[GpuNetwork]]
    """The accelerator VPCs (GPUDirect and RDMA)."""
    attachments: pulumi.Output[list[NetworkAttachment]]
    """One attachment per requested family and zone: the ordered NIC networks."""
    private_services_range: pulumi.Output[str]
    """Name of the range reserved for private services access (empty when off)."""

    def __init__(self, name: str, args: ClusterNetworkArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = dict(args)
        spec, families, region = _validate_network_args(name, args)  # before anything is registered
        super().__init__("ai-clusters:index:ClusterNetwork", name, {}, opts)
        project = provider_project(args)
        self._project = project
        self._region = region
        self._spec = spec
        child = pulumi.ResourceOptions(parent=self)

        host_mtu = spec.host_mtu or max((f.network.host_mtu for f, _ in families), default=1460)
        self._host_mtu = host_mtu
        self._host = gcp.compute.Network(
            f"{name}-host",
            name=f"{name}-host",
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            mtu=host_mtu,
            description="ai-clusters host network (nic0)",
            project=project,
            opts=child,
        )
        pods_range, services_range = f"{name}-pods", f"{name}-services"
        self._host_subnet = gcp.compute.Subnetwork(
            f"{name}-host",
            name=f"{name}-host",
            network=self._host.id,
            region=region,
            ip_cidr_range=spec.host_cidr,
            private_ip_google_access=True,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=pods_range, ip_cidr_range=spec.pods_cidr),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=services_range, ip_cidr_range=spec.services_cidr),
            ],
            log_config=gcp.compute.SubnetworkLogConfigArgs(aggregation_interval="INTERVAL_10_MIN", flow_sampling=0.5),
            project=project,
            opts=child,
        )
        router = gcp.compute.Router(f"{name}-router", name=f"{name}-router", network=self._host.id, region=region, project=project, opts=child)
        gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{name}-nat",
            router=router.name,
            region=region,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[
                gcp.compute.RouterNatSubnetworkArgs(name=self._host_subnet.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"])
            ],
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            project=project,
            opts=child,
        )
        gcp.compute.Firewall(
            f"{name}-internal",
            name=f"{name}-internal",
            network=self._host.id,
            direction="INGRESS",
            source_ranges=[spec.host_cidr, spec.pods_cidr],
            allows=[
                gcp.compute.FirewallAllowArgs(protocol="tcp"),
                gcp.compute.FirewallAllowArgs(protocol="udp"),
                gcp.compute.FirewallAllowArgs(protocol="icmp"),
            ],
            description="Traffic between the nodes and pods of the clusters",
            project=project,
            opts=child,
        )
        if spec.iap_ssh:
            gcp.compute.Firewall(
                f"{name}-iap-ssh",
                name=f"{name}-iap-ssh",
                network=self._host.id,
                direction="INGRESS",
                source_ranges=[IAP_RANGE],
                allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=["22"])],
                description="SSH through Identity-Aware Proxy only",
                project=project,
                opts=child,
            )
        psa_range: pulumi.Input[str] = ""
        self.services_connection: Optional[gcp.servicenetworking.Connection] = None
        if spec.private_services_access:
            psa_net = ipaddress.ip_network(spec.psa_cidr)
            address = gcp.compute.GlobalAddress(
                f"{name}-psa",
                name=f"{name}-psa",
                purpose="VPC_PEERING",
                address_type="INTERNAL",
                address=str(psa_net.network_address),
                prefix_length=psa_net.prefixlen,
                network=self._host.id,
                project=project,
                opts=child,
            )
            self.services_connection = gcp.servicenetworking.Connection(
                f"{name}-psa",
                network=self._host.id,
                service="servicenetworking.googleapis.com",
                reserved_peering_ranges=[address.name],
                opts=child,
            )
            psa_range = address.name

        self._gpu_nets: dict[tuple[str, str], list[tuple[gcp.compute.Network, gcp.compute.Subnetwork, NicType, int, bool]]] = {}
        self._gpu_outputs: list[pulumi.Output] = []
        self._build_accelerator_networks(name, families, project, region, spec, child)

        self.host_network = self._host.self_link
        self.host_network_name = self._host.name
        self.host_subnetwork = self._host_subnet.self_link
        self.pods_range_name = pulumi.Output.from_input(pods_range)
        self.services_range_name = pulumi.Output.from_input(services_range)
        self.private_services_range = pulumi.Output.from_input(psa_range)
        self.gpu_networks = pulumi.Output.all(*self._gpu_outputs) if self._gpu_outputs else pulumi.Output.from_input([])
        self._families = families
        self.attachments = pulumi.Output.all(
            *[pulumi.Output.from_input(self._attachment_output(f, z)) for f, z in families]
        ) if families else pulumi.Output.from_input([])
        register_typed_outputs(self)

    # -- accelerator networks ----------------------------------------------------------------
    def _build_accelerator_networks(self, name, families, project, region, spec, child) -> None:
        cidrs = iter(subnets(spec.gpu_cidr, GPU_SUBNET_PREFIX))  # enough of them: counted before anything is registered

        def next_cidr() -> str:
            return next(cidrs)

        def vpc(net_name: str, mtu: int, subnets: int, nic_type: NicType, zone: str = "", profile: Optional[pulumi.Input[str]] = None):
            network = gcp.compute.Network(
                net_name,
                name=net_name,
                auto_create_subnetworks=False,
                routing_mode="REGIONAL",
                mtu=mtu,
                network_profile=profile,
                description=f"ai-clusters {nic_type.value} network" + (f" (RoCE, {zone})" if zone else ""),
                project=project,
                opts=child,
            )
            made = []
            ranges = []
            for i in range(subnets):
                cidr = next_cidr()
                ranges.append(cidr)
                sub_name = f"{net_name}-{i}" if subnets > 1 else net_name
                made.append(
                    gcp.compute.Subnetwork(
                        sub_name,
                        name=sub_name,
                        network=network.id,
                        region=region,
                        ip_cidr_range=cidr,
                        private_ip_google_access=nic_type == NicType.GVNIC,
                        project=project,
                        opts=child,
                    )
                )
            if profile is None:  # RoCE networks take no firewall rules
                gcp.compute.Firewall(
                    f"{net_name}-internal",
                    name=f"{net_name}-internal",
                    network=network.id,
                    direction="INGRESS",
                    source_ranges=ranges,
                    allows=[
                        gcp.compute.FirewallAllowArgs(protocol="tcp"),
                        gcp.compute.FirewallAllowArgs(protocol="udp"),
                        gcp.compute.FirewallAllowArgs(protocol="icmp"),
                    ],
                    project=project,
                    opts=child,
                )
            self._gpu_outputs.append(
                pulumi.Output.all(network.name, network.self_link, *[s.self_link for s in made]).apply(
                    lambda v, mtu=mtu, t=nic_type.value, z=zone: {
                        "name": v[0], "network": v[1], "subnetworks": list(v[2:]), "mtu": mtu, "nic_type": t, "zone": z,
                    }
                )
            )
            return network, made

        tcp = [f for f, _ in families if f.gpudirect in (GpuDirect.TCPX, GpuDirect.TCPXO)]
        tcp_nets: list = []
        if tcp:
            count = max(f.network.gpu_nics for f in tcp)
            mtu = max(f.network.gpu_mtu or 0 for f in tcp)
            for i in range(count):
                net, subs = vpc(f"{name}-gpu-{i}", mtu, 1, NicType.GVNIC)
                tcp_nets.append((net, subs[0], NicType.GVNIC, mtu, False))
        rdma = [(f, z) for f, z in families if f.gpudirect == GpuDirect.RDMA]
        second: list = []
        if rdma:
            extra_gvnics = max(f.network.gvnics for f, _ in rdma) - 1
            mtu = max(f.network.second_gvnic_mtu or f.network.host_mtu for f, _ in rdma)
            for i in range(extra_gvnics):
                net, subs = vpc(f"{name}-gvnic-{i + 1}", mtu, 1, NicType.GVNIC)
                second.append((net, subs[0], NicType.GVNIC, mtu, False))
        roce: dict[str, list] = {}
        for zone in sorted({z for f, z in rdma}):
            nics = max(f.network.gpu_nics for f, z in rdma if z == zone)
            mtu = max(f.network.gpu_mtu or 8896 for f, z in rdma if z == zone)
            net, subs = vpc(f"{name}-roce-{zone.split('-')[-1]}", mtu, nics, NicType.MRDMA, zone, roce_profile(project, zone))
            roce[zone] = [(net, s, NicType.MRDMA, mtu, True) for s in subs]
        for fam, zone in families:
            if fam.gpudirect in (GpuDirect.TCPX, GpuDirect.TCPXO):
                self._gpu_nets[(fam.id, zone)] = tcp_nets[: fam.network.gpu_nics]
            elif fam.gpudirect == GpuDirect.RDMA:
                self._gpu_nets[(fam.id, zone)] = second[: fam.network.gvnics - 1] + roce[zone][: fam.network.gpu_nics]
            else:
                self._gpu_nets[(fam.id, zone)] = []

    def _attachment_output(self, family: GpuFamily, zone: str) -> pulumi.Output:
        nets = self._gpu_nets[(family.id, zone)]
        return pulumi.Output.all(
            self._host.self_link,
            self._host_subnet.self_link,
            pulumi.Output.all(*[n.self_link for n, *_ in nets]),
            pulumi.Output.all(*[s.self_link for _, s, *_ in nets]),
        ).apply(
            lambda v: {
                "family": family.id,
                "zone": zone,
                "host_network": v[0],
                "host_subnetwork": v[1],
                "extra_nic_networks": list(v[2]),
                "extra_nic_subnetworks": list(v[3]),
                "extra_nic_types": [t.value for _, _, t, *_ in nets],
            }
        )

    # -- what clusters plug in -----------------------------------------------------------------
    @property
    def cidrs(self) -> list[str]:
        """Every address range this network holds (host, pods, services, GPU networks, private services access)."""
        s = self._spec
        return [s.host_cidr, s.pods_cidr, s.services_cidr, s.gpu_cidr, s.psa_cidr]

    def attachment(self, family: str, zone: str, machine_gpus: Optional[int] = None) -> NetworkAttachmentArgs:
        """The NICs for a node of `family` in `zone`: host network first, then the GPU/RDMA NICs in order.

        Machine shapes that have a single NIC (A3 High 1g/2g/4g) get the host network only.
        """
        fam = catalog().family(family)
        key = (fam.id, zone)
        if fam.gpudirect != GpuDirect.NONE and key not in self._gpu_nets:
            requested = ", ".join(f"{f.id}@{z}" for f, z in self._families) or "none"
            raise SpecError([Problem("network", f"this ClusterNetwork has no accelerator networks for {fam.id} in {zone} (it serves: {requested})")])
        gpus = machine_gpus if machine_gpus is not None else max((m.gpus for m in fam.machine_types), default=0)
        nets = self._gpu_nets.get(key, []) if family_uses_gpu_nics(fam, gpus) else []
        extra: list[NicArgs] = [
            NicArgs(network=net.self_link, subnetwork=sub.self_link, nic_type=nic_type, mtu=mtu, rdma_profile=roce)
            for net, sub, nic_type, mtu, roce in nets
        ]
        return NetworkAttachmentArgs(
            host_network=self._host.self_link,
            host_subnetwork=self._host_subnet.self_link,
            host_mtu=self._host_mtu,
            extra_nics=extra,
            pods_range_name=self.pods_range_name,
            services_range_name=self.services_range_name,
        )


def _validate_network_args(name: str, args: dict) -> tuple[NetworkSpec, list[tuple[GpuFamily, str]], str]:
    subject = f"ClusterNetwork '{name}'"
    region = args.get("region")
    problems: list[Problem] = []
    if not isinstance(region, str) or not region:
        problems.append(Problem("region", "is required (e.g. us-central1)"))
    spec_keys = ("host_cidr", "pods_cidr", "services_cidr", "gpu_cidr", "psa_cidr", "host_mtu", "iap_ssh", "private_services_access")
    spec = None
    try:
        spec = parse_model(NetworkSpec, {k: args[k] for k in spec_keys if args.get(k) is not None})
    except SpecError as exc:
        problems.extend(exc.problems)
    families: list[tuple[GpuFamily, str]] = []
    for i, item in enumerate(args.get("accelerator_networks") or []):
        try:
            fam = catalog().family(item["family"])
        except CatalogError as exc:
            problems.append(Problem(f"acceleratorNetworks[{i}].family", str(exc)))
            continue
        zone = item.get("zone", "")
        if region and region_of(zone) != region:
            problems.append(Problem(f"acceleratorNetworks[{i}].zone", f"{zone!r} is not a zone of {region}"))
            continue
        if zone not in fam.all_zones:
            problems.append(Problem(f"acceleratorNetworks[{i}].zone", f"{fam.name} is not offered in {zone}; offered in: {one_of(z for z in fam.all_zones if region_of(z) == region)}"))
            continue
        if (fam, zone) not in families:
            families.append((fam, zone))
    if spec is not None:
        problems.extend(Problem("gpuCidr", p) for p in gpu_cidr_problems(spec.gpu_cidr, families))
    if problems:
        raise SpecError(problems, subject)
    assert spec is not None
    return spec, families, region
