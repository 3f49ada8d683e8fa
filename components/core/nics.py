"""The NICs a machine family needs after nic0, and the check of what a cluster was given.

Pure functions: ClusterNetwork builds networks from them, the components check their attachment
with them before registering anything, and the networking policy checks resources with them.
"""

import ipaddress
from typing import Iterable

from ai_clusters.core.catalog import GpuFamily
from ai_clusters.core.enums import GpuDirect, NicType

GPU_SUBNET_PREFIX = 22  # each GPU/RDMA subnet: 1,020 addresses, one per node


def extra_nic_plan(family: GpuFamily) -> list[tuple[NicType, int, bool]]:
    """The NICs after nic0 a family needs, in order: (type, MTU, needs the RoCE profile)."""
    net = family.network
    plan: list[tuple[NicType, int, bool]] = []
    if family.gpudirect == GpuDirect.RDMA:
        plan += [(NicType.GVNIC, net.second_gvnic_mtu or net.host_mtu, False)] * (net.gvnics - 1)
        plan += [(NicType.MRDMA, net.gpu_mtu or net.host_mtu, True)] * net.gpu_nics
    elif family.gpudirect in (GpuDirect.TCPX, GpuDirect.TCPXO):
        plan += [(NicType.GVNIC, net.gpu_mtu or net.host_mtu, False)] * net.gpu_nics
    return plan


def accelerator_subnets(networks: Iterable[tuple[GpuFamily, str]]) -> int:
    """How many GPU/RDMA subnets ClusterNetwork makes for these (family, zone) pairs: the TCPX/TCPXO networks
    are shared by every family and zone, the RDMA families share their extra gVNIC networks and have one
    RoCE VPC per zone."""
    pairs = list(networks)
    tcp = [f for f, _ in pairs if f.gpudirect in (GpuDirect.TCPX, GpuDirect.TCPXO)]
    rdma = [(f, z) for f, z in pairs if f.gpudirect == GpuDirect.RDMA]
    count = max((f.network.gpu_nics for f in tcp), default=0)
    if rdma:
        count += max(f.network.gvnics for f, _ in rdma) - 1
        count += sum(max(f.network.gpu_nics for f, z in rdma if z == zone) for zone in {z for _, z in rdma})
    return count


def subnets(cidr: str, prefix: int) -> list[str]:
    """The /`prefix` subnets of `cidr`, in order."""
    net = ipaddress.ip_network(cidr)
    return [str(s) for s in net.subnets(new_prefix=max(prefix, net.prefixlen))]


def gpu_cidr_problems(gpu_cidr: str, networks: Iterable[tuple[GpuFamily, str]]) -> list[str]:
    """What is wrong with a `gpuCidr` too small for the accelerator networks of these (family, zone) pairs."""
    needed = accelerator_subnets(networks)
    room = len(subnets(gpu_cidr, GPU_SUBNET_PREFIX))
    if needed <= room:
        return []
    wanted = GPU_SUBNET_PREFIX - (needed - 1).bit_length()
    return [f"{gpu_cidr} has {room} /{GPU_SUBNET_PREFIX} subnets; these accelerator networks need {needed} (a /{wanted} or larger)"]


def family_uses_gpu_nics(family: GpuFamily, machine_gpus: int) -> bool:
    """A3 High 1g/2g/4g have a single NIC: only the full 8-GPU shapes use the GPU NICs."""
    if family.gpudirect == GpuDirect.NONE:
        return False
    largest = max((m.gpus for m in family.machine_types), default=machine_gpus)
    return machine_gpus == largest


def check_attachment(family: GpuFamily, machine_gpus: int, attachment: dict) -> list[str]:
    """What is wrong with `attachment` for a node of `family` (empty when it fits)."""
    want = extra_nic_plan(family) if family_uses_gpu_nics(family, machine_gpus) else []
    have = list(attachment.get("extra_nics") or [])
    problems: list[str] = []
    if len(have) != len(want):
        kinds = ", ".join(f"{sum(1 for w in want if w[0] == t)} {t.value}" for t in NicType if any(w[0] == t for w in want))
        need = f"{len(want)} NICs after nic0 ({kinds})" if want else "no NICs after nic0"
        problems.append(f"{family.name} needs {need}; the network gives {len(have)}")
        if family.gpudirect == GpuDirect.RDMA and not any(_nic_type(n) == NicType.MRDMA for n in have):
            problems.append(f"{family.name} needs the RDMA network: a VPC with the zone's RoCE network profile and MRDMA NICs")
        return problems
    for i, ((nic_type, mtu, roce), nic) in enumerate(zip(want, have), start=1):
        if _nic_type(nic) != nic_type:
            problems.append(f"nic{i} must be {nic_type.value}, not {_nic_type(nic).value}")
        if nic.get("mtu") is not None and nic["mtu"] != mtu:
            problems.append(f"nic{i} sits on a network with MTU {nic['mtu']}; {family.name} needs {mtu}")
        if roce and nic.get("rdma_profile") is False:
            problems.append(f"nic{i} must sit on a VPC created with the RoCE network profile")
    host_mtu = attachment.get("host_mtu")
    if host_mtu is not None and want and host_mtu < family.network.host_mtu:
        problems.append(f"the host network's MTU {host_mtu} is below the {family.network.host_mtu} {family.name} needs")
    return problems


def _nic_type(nic: dict) -> NicType:
    value = nic.get("nic_type")
    return value if isinstance(value, NicType) else NicType(value)
