"""The settings every accelerator VM gets, for instances and instance templates alike.

Shared by the Compute Engine and Slurm paths so a GPU VM is built one way: GPUs terminate on host
maintenance, Shielded VM, OS Login, no external IP, the family's NICs in order, the provisioning
model's scheduling and reservation affinity, and guest accelerators only where the family needs
them attached (N1). CPU VMs (a Slurm controller, login nodes, a CPU partition) pass no shape but
their machine and disk type, and may live-migrate.
"""

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_gcp as gcp

from ai_clusters.core import labels as contract
from ai_clusters.core.catalog import NodeShape
from ai_clusters.core.enums import NicType, ProvisioningModel
from ai_clusters.core.spec import ProvisioningSpec
from ai_clusters.core.naming import last_segment

METADATA = {
    "enable-oslogin": "TRUE",  # SSH through OS Login (IAM), never project-wide keys
    "block-project-ssh-keys": "TRUE",
}
FIRST_BOOT_DRIVER = {"install-nvidia-driver": "True"}  # Deep Learning VM images install the driver at first boot


def metadata_for(shape: Optional[NodeShape], first_boot_driver: Optional[bool] = None) -> dict[str, str]:
    """OS Login metadata, and the Deep Learning VM driver flag where the node boots the family's DLVM image."""
    first_boot = (shape is not None and shape.family.image.driver == "first-boot") if first_boot_driver is None else first_boot_driver
    return {**METADATA, **(FIRST_BOOT_DRIVER if first_boot else {})}


def _with_secure_boot_label(labels: dict[str, str], secure_boot: bool) -> dict[str, str]:
    """The labels, saying why Secure Boot is off where it is (the policies read it)."""
    return labels if secure_boot else {**labels, contract.SECURE_BOOT: contract.SECURE_BOOT_OFF_DKMS}


SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]  # access is limited by the account's IAM roles


def boot_image(shape: NodeShape, family_override: Optional[str], project_override: Optional[str]) -> str:
    """`projects/P/global/images/family/F` for the node's boot disk."""
    image = shape.family.image
    family = family_override or image.family
    project = project_override or image.project
    return f"projects/{project}/global/images/family/{family}"


def boot_disk_type(shape: NodeShape) -> str:
    return shape.family.boot_disk_types[0]


def _machine(shape: Optional[NodeShape], machine_type: Optional[str], disk_type: Optional[str]) -> tuple[str, str]:
    """(machine type, boot disk type): from the GPU shape, or as given for a CPU VM."""
    if shape is not None:
        return shape.machine_type, boot_disk_type(shape)
    if not machine_type or not disk_type:
        raise ValueError("a VM without a GPU shape needs its machine_type and disk_type")
    return machine_type, disk_type


@dataclass(frozen=True)
class Scheduling:
    """Provisioning model -> Compute Engine scheduling and reservation affinity (neutral form)."""

    provisioning_model: str
    automatic_restart: bool
    preemptible: bool
    on_host_maintenance: str = "TERMINATE"
    instance_termination_action: Optional[str] = None
    max_run_seconds: Optional[int] = None
    reservation: Optional[str] = None
    no_reservation: bool = False


def scheduling_for(shape: Optional[NodeShape], provisioning: ProvisioningSpec, *, in_group: bool) -> Scheduling:
    """GPU VMs terminate on host maintenance; CPU VMs (no shape) live-migrate unless they are spot."""
    model = provisioning.model
    if shape is None and model in (ProvisioningModel.ON_DEMAND, ProvisioningModel.RESERVATION):
        return Scheduling("STANDARD", True, False, on_host_maintenance="MIGRATE", reservation=provisioning.reservation)
    if model == ProvisioningModel.SPOT:
        return Scheduling("SPOT", False, True, instance_termination_action="DELETE" if in_group else "STOP", no_reservation=True)
    if model == ProvisioningModel.FLEX_START:
        hours = provisioning.max_run_hours or 168
        return Scheduling(
            "FLEX_START", False, False, instance_termination_action="DELETE", max_run_seconds=hours * 3600, no_reservation=True
        )
    if model == ProvisioningModel.RESERVATION:
        # Families sold without plain on-demand (A4X, A4, A3 Ultra) run bound to their reservation.
        bound = shape is not None and ProvisioningModel.ON_DEMAND not in shape.provisioning
        return Scheduling("RESERVATION_BOUND" if bound else "STANDARD", True, False, reservation=provisioning.reservation)
    return Scheduling("STANDARD", True, False)


def _scheduling_args(s: Scheduling, cls: Any, duration_cls: Any) -> Any:
    return cls(
        provisioning_model=s.provisioning_model,
        automatic_restart=s.automatic_restart,
        preemptible=s.preemptible,
        on_host_maintenance=s.on_host_maintenance,
        instance_termination_action=s.instance_termination_action,
        max_run_duration=duration_cls(seconds=s.max_run_seconds) if s.max_run_seconds else None,
    )


def _affinity_args(s: Scheduling, cls: Any, specific_cls: Any) -> Any:
    if s.reservation:
        return cls(
            type="SPECIFIC_RESERVATION",
            specific_reservation=specific_cls(key="compute.googleapis.com/reservation-name", values=[s.reservation]),
        )
    if s.no_reservation:
        return cls(type="NO_RESERVATION")
    return None


def _nics(attachment: Any, cls: Any) -> Any:
    if isinstance(attachment, pulumi.Output):  # wired from another language: known at deployment
        return attachment.apply(lambda a: _nics(a, cls))
    nics = [cls(network=attachment["host_network"], subnetwork=attachment["host_subnetwork"], nic_type=NicType.GVNIC.value)]
    for nic in attachment.get("extra_nics") or []:
        nic_type = nic["nic_type"]
        nics.append(
            cls(
                network=nic["network"],
                subnetwork=nic["subnetwork"],
                nic_type=nic_type.value if isinstance(nic_type, NicType) else str(nic_type),
            )
        )
    return nics  # no access_configs: no external IP on any NIC


def _accelerators(shape: Optional[NodeShape], cls: Any) -> Optional[list]:
    if shape is None or not shape.attached:
        return None
    return [cls(type=shape.gpu.compute_engine, count=shape.gpus)]


STARTUP_SCRIPT_KEY = "startup-script"
"""The metadata key Compute Engine runs at every boot (the guest environment reads it)."""


def instance_kwargs(
    *,
    shape: Optional[NodeShape],
    provisioning: ProvisioningSpec,
    attachment: dict,
    image: str,
    boot_disk_gb: int,
    service_account: pulumi.Input[str],
    labels: dict[str, str],
    startup_script: pulumi.Input[str],
    zone: str,
    placement_policy: Optional[pulumi.Input[str]] = None,
    read_only_disks: pulumi.Input[list] = (),
    machine_type: Optional[str] = None,
    disk_type: Optional[str] = None,
    metadata: Optional[dict] = None,
    first_boot_driver: Optional[bool] = None,
    secure_boot: bool = True,
) -> dict:
    """Keyword arguments of `gcp.compute.Instance` for one accelerator VM (or, without a shape, a CPU VM)."""
    labels = _with_secure_boot_label(labels, secure_boot)
    s = scheduling_for(shape, provisioning, in_group=False)
    machine, disk = _machine(shape, machine_type, disk_type)
    c = gcp.compute
    return dict(
        machine_type=machine,
        zone=zone,
        boot_disk=c.InstanceBootDiskArgs(
            initialize_params=c.InstanceBootDiskInitializeParamsArgs(
                image=image, size=boot_disk_gb, type=disk, labels=labels
            ),
            auto_delete=True,
        ),
        network_interfaces=_nics(attachment, c.InstanceNetworkInterfaceArgs),
        guest_accelerators=_accelerators(shape, c.InstanceGuestAcceleratorArgs),
        scheduling=_scheduling_args(s, c.InstanceSchedulingArgs, c.InstanceSchedulingMaxRunDurationArgs),
        reservation_affinity=_affinity_args(
            s, c.InstanceReservationAffinityArgs, c.InstanceReservationAffinitySpecificReservationArgs
        ),
        shielded_instance_config=c.InstanceShieldedInstanceConfigArgs(
            enable_secure_boot=secure_boot, enable_vtpm=True, enable_integrity_monitoring=True
        ),
        service_account=c.InstanceServiceAccountArgs(email=service_account, scopes=SCOPES),
        # The script as the `startup-script` metadata key, not `metadata_startup_script`: the provider replaces a VM
        # whose metadata_startup_script changes (ForceNew) but updates metadata in place, for the next boot.
        metadata={**metadata_for(shape, first_boot_driver), **(metadata or {}), STARTUP_SCRIPT_KEY: startup_script},
        attached_disks=pulumi.Output.from_input(read_only_disks).apply(
            lambda disks: [c.InstanceAttachedDiskArgs(source=d, mode="READ_ONLY", device_name="models") for d in disks]
        ),
        resource_policies=placement_policy,  # pulumi-gcp 10 takes one self link (the API allows one)
        labels=labels,
        allow_stopping_for_update=True,
    )


def template_kwargs(
    *,
    shape: Optional[NodeShape],
    provisioning: ProvisioningSpec,
    attachment: dict,
    image: str,
    boot_disk_gb: int,
    service_account: pulumi.Input[str],
    labels: dict[str, str],
    startup_script: pulumi.Input[str],
    placement_policy: Optional[pulumi.Input[str]] = None,
    read_only_disks: pulumi.Input[list] = (),
    in_group: bool = True,
    metadata: Optional[dict] = None,
    machine_type: Optional[str] = None,
    disk_type: Optional[str] = None,
    first_boot_driver: Optional[bool] = None,
    threads_per_core: Optional[int] = None,
    secure_boot: bool = True,
) -> dict:
    """Keyword arguments of `gcp.compute.InstanceTemplate` for a group of accelerator VMs (or CPU VMs).

    `threads_per_core` None keeps the platform default (SMT on where the machine has it); `secure_boot` False
    (`core.catalog.models.secure_boot_for`) turns Secure Boot off and labels why."""
    labels = _with_secure_boot_label(labels, secure_boot)
    s = scheduling_for(shape, provisioning, in_group=in_group)
    machine, disk = _machine(shape, machine_type, disk_type)
    c = gcp.compute
    boot = c.InstanceTemplateDiskArgs(
        boot=True,
        auto_delete=True,
        source_image=image,
        disk_size_gb=boot_disk_gb,
        disk_type=disk,
        labels=labels,
    )
    disks = pulumi.Output.from_input(read_only_disks).apply(
        lambda extra: [boot]
        + [
            c.InstanceTemplateDiskArgs(source=last_segment(d), boot=False, auto_delete=False, mode="READ_ONLY", device_name="models")
            for d in extra
        ]
    )
    return dict(
        machine_type=machine,
        disks=disks,
        network_interfaces=_nics(attachment, c.InstanceTemplateNetworkInterfaceArgs),
        guest_accelerators=_accelerators(shape, c.InstanceTemplateGuestAcceleratorArgs),
        scheduling=_scheduling_args(s, c.InstanceTemplateSchedulingArgs, c.InstanceTemplateSchedulingMaxRunDurationArgs),
        reservation_affinity=_affinity_args(
            s, c.InstanceTemplateReservationAffinityArgs, c.InstanceTemplateReservationAffinitySpecificReservationArgs
        ),
        shielded_instance_config=c.InstanceTemplateShieldedInstanceConfigArgs(
            enable_secure_boot=secure_boot, enable_vtpm=True, enable_integrity_monitoring=True
        ),
        service_account=c.InstanceTemplateServiceAccountArgs(email=service_account, scopes=SCOPES),
        # The script as the `startup-script` metadata key, not `metadata_startup_script`: the provider replaces a VM
        # whose metadata_startup_script changes (ForceNew) but updates metadata in place, for the next boot.
        metadata={**metadata_for(shape, first_boot_driver), **(metadata or {}), STARTUP_SCRIPT_KEY: startup_script},
        resource_policies=placement_policy,  # pulumi-gcp 10 takes one self link (the API allows one)
        labels=labels,
        advanced_machine_features=c.InstanceTemplateAdvancedMachineFeaturesArgs(threads_per_core=threads_per_core) if threads_per_core else None,
    )
