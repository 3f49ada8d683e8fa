"""ClusterNetwork under mocks: host VPC, NAT, IAP-only SSH, and the accelerator networks of each family."""

import pytest

from ai_clusters import ClusterNetwork
from ai_clusters.core.catalog import catalog
from ai_clusters.core.nics import check_attachment
from ai_clusters.core.spec import SpecError

from .conftest import mocked

NETWORK = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"


def build(accelerators):
    holder = {}

    def program():
        holder["net"] = ClusterNetwork("env", {"region": "us-central1", "accelerator_networks": accelerators})

    return mocked(program), holder


def test_host_vpc_nat_and_iap_only():
    reg, _ = build([])
    host = reg.one(NETWORK, "env-host")
    assert host.inputs["autoCreateSubnetworks"] is False
    sub = reg.one(SUBNET, "env-host")
    assert sub.inputs["privateIpGoogleAccess"] is True
    assert {r["rangeName"] for r in sub.inputs["secondaryIpRanges"]} == {"env-pods", "env-services"}
    nat = reg.one("gcp:compute/routerNat:RouterNat")
    assert nat.inputs["natIpAllocateOption"] == "AUTO_ONLY"
    ssh = reg.one(FIREWALL, "env-iap-ssh")
    assert ssh.inputs["sourceRanges"] == ["35.235.240.0/20"]
    assert ssh.inputs["allows"] == [{"protocol": "tcp", "ports": ["22"]}]
    # nothing opens the network to the internet
    for fw in reg.of_type(FIREWALL):
        assert "0.0.0.0/0" not in fw.inputs.get("sourceRanges", [])
    assert reg.one("gcp:servicenetworking/connection:Connection").inputs["service"] == "servicenetworking.googleapis.com"


@pytest.mark.parametrize(
    "family, zone, gpu_vpcs, mtu",
    [("a3-mega", "us-central1-a", 8, 8244), ("a3-high", "us-central1-a", 4, 8244)],
)
def test_tcpx_families_get_one_vpc_per_gpu_nic_at_their_mtu(family, zone, gpu_vpcs, mtu):
    reg, _ = build([{"family": family, "zone": zone}])
    gpu = [n for n in reg.of_type(NETWORK) if n.name.startswith("env-gpu-")]
    assert len(gpu) == gpu_vpcs
    assert {n.inputs["mtu"] for n in gpu} == {mtu}
    assert reg.one(NETWORK, "env-host").inputs["mtu"] == catalog().family(family).network.host_mtu
    assert not any("networkProfile" in n.inputs for n in gpu)


@pytest.mark.parametrize("family, zone, rdma_nics", [("a3-ultra", "us-central1-b", 8), ("a4", "us-central1-b", 8), ("a4x", "us-central1-a", 4)])
def test_rdma_families_get_a_roce_vpc_with_one_subnet_per_nic_and_a_second_gvnic_network(family, zone, rdma_nics):
    reg, _ = build([{"family": family, "zone": zone}])
    roce = reg.one(NETWORK, f"env-roce-{zone[-1]}")
    assert roce.inputs["networkProfile"] == f"https://www.googleapis.com/compute/beta/projects/mock-project/global/networkProfiles/{zone}-vpc-roce"
    assert roce.inputs["mtu"] == 8896
    subnets = [s for s in reg.of_type(SUBNET) if s.name.startswith(f"env-roce-{zone[-1]}-")]
    assert len(subnets) == rdma_nics
    assert len({s.inputs["ipCidrRange"] for s in subnets}) == rdma_nics
    assert reg.one(NETWORK, "env-gvnic-1").inputs["mtu"] == 8896
    # RoCE VPCs take no firewall rules
    assert not [f for f in reg.of_type(FIREWALL) if f.name.startswith("env-roce")]


def test_one_network_serves_several_families_and_zones():
    reg, holder = build([{"family": "a3-mega", "zone": "us-central1-a"}, {"family": "a3-high", "zone": "us-central1-a"}, {"family": "a3-ultra", "zone": "us-central1-b"}])
    assert len([n for n in reg.of_type(NETWORK) if n.name.startswith("env-gpu-")]) == 8  # A3 High shares A3 Mega's first 4
    attachments = reg.run.exports or {}
    del attachments
    net = holder["net"]
    high = net.attachment("a3-high", "us-central1-a")
    assert len(high["extra_nics"]) == 4
    ultra = net.attachment("a3-ultra", "us-central1-b")
    assert [n["nic_type"].value for n in ultra["extra_nics"]] == ["GVNIC"] + ["MRDMA"] * 8
    small = net.attachment("a3-high", "us-central1-a", machine_gpus=1)
    assert small["extra_nics"] == [], "a3-highgpu-1g has a single NIC"


def test_attachment_for_a_family_the_network_does_not_serve():
    _, holder = build([{"family": "a3-mega", "zone": "us-central1-a"}])
    with pytest.raises(SpecError, match="no accelerator networks for a3-ultra in us-central1-b"):
        holder["net"].attachment("a3-ultra", "us-central1-b")


def test_bad_args_fail_before_anything_is_registered():
    created = []

    def program():
        try:
            ClusterNetwork("env", {"region": "us-central1", "accelerator_networks": [{"family": "a3-ultra", "zone": "us-central1-a"}], "gpu_cidr": "8.8.0.0/16"})
        except SpecError as exc:
            created.append(exc)

    reg = mocked(program)
    assert reg.all == []
    msg = str(created[0])
    assert "gpuCidr: '8.8.0.0/16' is not a private range" in msg
    assert "acceleratorNetworks[0].zone: A3 Ultra is not offered in us-central1-a" in msg


def test_rdma_family_without_the_rdma_network_is_caught():
    fam = catalog().family("a3-ultra")
    problems = check_attachment(fam, 8, {"host_network": "h", "host_subnetwork": "s", "extra_nics": []})
    assert "A3 Ultra needs the RDMA network" in " ".join(problems)
