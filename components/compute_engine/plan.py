"""The plan of a GpuVmCluster, decided before anything is registered (pure: no Pulumi here).

On-demand and reserved nodes are individual instances (stable names for training jobs); spot nodes
are a managed instance group that recreates what is preempted; flex-start nodes are a managed
instance group grown by a resize request (Dynamic Workload Scheduler). A node of a GPUDirect family
that uses its GPU NICs boots the image its flavour needs on a VM (catalog `node_setup`: Container-Optimized
OS for GPUDirect-TCPX, the Ubuntu accelerator image for TCPXO and RDMA) and lights GPUDirect in its
start-up script; a storage kind the image has no client for is refused here, with the reason.
"""

from dataclasses import dataclass
from typing import Optional

from ai_clusters.compute_engine.options import ComputeEngineOptions
from ai_clusters.core.catalog import catalog
from ai_clusters.core.catalog.models import GpuDirectHost, secure_boot_for
from ai_clusters.core.enums import ClusterPath, GpuDirect, ProvisioningModel
from ai_clusters.core.nics import family_uses_gpu_nics
from ai_clusters.core.spec import ResolvedCluster
from ai_clusters.core.spec.paths import Add, PathDefinition

STORAGE_KEYS = {"filestore": "filestore", "lustre": "lustre", "parallelstore": "parallelstore"}


@dataclass(frozen=True)
class VmPlan:
    """How the nodes of a GpuVmCluster are made and what they set up at boot."""

    options: ComputeEngineOptions
    managed_group: bool
    """A managed instance group owns the nodes (spot, flex-start, or asked for); else individual instances."""
    image: str
    """`projects/P/global/images/family/F` of the boot disk."""
    os: Optional[str]
    """The image's OS as the catalog knows it (None for an image of the user's)."""
    install_driver: bool
    """The start-up script installs the NVIDIA driver with Google's installer."""
    first_boot_driver: bool
    """The image is the family's Deep Learning VM image, which installs the driver at first boot when told to."""
    gpudirect: Optional[GpuDirectHost]
    """The GPUDirect set-up the nodes run at boot (None: no GPU NICs to light)."""
    skip_mounts: tuple[str, ...] = ()
    """Mount kinds the nodes cannot mount (said in `cautions`)."""
    secure_boot: bool = True
    """Shielded VM Secure Boot (off where the GPUDirect set-up compiles a kernel module at boot, said in `cautions`)."""
    cautions: tuple[str, ...] = ()
    """What the plan shows as warnings."""


def _host(resolved: ResolvedCluster, image_os: Optional[str]) -> Optional[GpuDirectHost]:
    shape = resolved.shape
    assert shape is not None
    facts = catalog().data.node_setup
    if facts is None or shape.gpudirect == GpuDirect.NONE or not family_uses_gpu_nics(shape.family, shape.gpus):
        return None
    if image_os is None:
        return facts.vm_host(shape.gpudirect)
    return facts.host(shape.gpudirect, image_os)


def plan_vms(resolved: ResolvedCluster, add: Add) -> Optional[VmPlan]:
    """Instances or a managed instance group, the boot image and what it sets up; every impossible option reported through `add`."""
    options: ComputeEngineOptions = resolved.options
    shape = resolved.shape
    assert shape is not None
    facts = catalog().data.node_setup
    model = resolved.provisioning
    group = options.managed_instance_group
    if group is None:
        group = model in (ProvisioningModel.SPOT, ProvisioningModel.FLEX_START)
    if model == ProvisioningModel.FLEX_START and not group:
        add("computeEngine.managedInstanceGroup", "flex-start nodes come from a managed instance group; leave it unset or true")
        return None

    family_image = shape.family.image
    if options.image_family:
        project, family = options.image_project, options.image_family
    else:
        default_host = _host(resolved, None)
        ref = default_host.image if default_host is not None and default_host.image is not None else family_image
        project, family = ref.project, ref.family
    known = facts.image_os(project, family) if facts else None
    image_os = known.os if known else None
    host = _host(resolved, image_os)
    if host is not None and host.needs_custom_image and not options.image_family:
        add("computeEngine.imageFamily", f"{host.needs_custom_image}: name an image that has it (computeEngine.imageFamily and imageProject)")
        return None
    own_image = (project, family) == (family_image.project, family_image.family)
    install_driver = family_image.driver == "installer" and not (host and host.driver)

    cautions: list[str] = []
    skip: list[str] = []
    if image_os is not None and facts is not None:
        storage = resolved.storage
        wanted = [k for k in STORAGE_KEYS if getattr(storage, k) is not None]
        for kind in wanted:
            if facts.client(kind, image_os) is None:
                offered = sorted({o for c in facts.storage_clients if c.kind == kind for o in c.os})
                why = f"on GPUDirect-{host.flavor.value.upper()} " if host is not None and host.image is not None else ""
                add(
                    f"storage.{kind}",
                    f"{shape.machine_type} nodes {why}boot {family} ({image_os}), which has no {kind} client "
                    f"(clients exist for {', '.join(offered)}); choose another storage kind, or computeEngine.imageFamily",
                )
        if storage.bucket.enabled and facts.client("gcsfuse", image_os) is None:
            skip.append("gcsfuse")
            cautions.append(
                f"{resolved.name}: {family} ({image_os}) has no Cloud Storage FUSE client: the bucket is not mounted on the "
                "nodes; jobs reach it through the Cloud Storage API (gcloud storage, client libraries)"
            )
    secure_boot = secure_boot_for(host)
    if not secure_boot and facts is not None:
        cautions.append(f"{resolved.name}: Secure Boot is off on its {shape.machine_type} nodes: {facts.dkms_secure_boot}")
    return VmPlan(
        options=options,
        managed_group=group,
        image=f"projects/{project}/global/images/family/{family}",
        os=image_os,
        install_driver=install_driver,
        first_boot_driver=own_image and family_image.driver == "first-boot",
        gpudirect=host,
        skip_mounts=tuple(skip),
        secure_boot=secure_boot,
        cautions=tuple(cautions),
    )


def mount_problems(plan: VmPlan, kinds: list[str]) -> list[str]:
    """Mount kinds the nodes' image has no client for (a bucket skipped on purpose is fine)."""
    facts = catalog().data.node_setup
    if plan.os is None or facts is None:
        return []
    return [
        f"the nodes boot a {plan.os} image, which has no {kind} client"
        for kind in dict.fromkeys(kinds)
        if kind in ("filestore", "lustre", "parallelstore", "gcsfuse") and kind not in plan.skip_mounts and facts.client(kind, plan.os) is None
    ]


PATH = PathDefinition(
    path=ClusterPath.COMPUTE_ENGINE,
    plan=plan_vms,
    component="ai_clusters.compute_engine.component:from_resolved",
    options_key="compute_engine",
    options_model=ComputeEngineOptions,
)

__all__ = ["PATH", "VmPlan", "mount_problems", "plan_vms"]
