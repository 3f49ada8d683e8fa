"""ClusterStorage under mocks: every storage kind, protected, secure, mountable; bad sizes refused."""

import pytest

from ai_clusters import ClusterNetwork, ClusterStorage
from ai_clusters.core.spec import SpecError

from .conftest import labels_of, mocked

ALL = {
    "bucket": {"hierarchical_namespace": True, "soft_delete_days": 14, "delete_after_days": 365, "nearline_after_days": 30},
    "filestore": {"tier": "ZONAL", "capacity_gb": 1024, "mount_point": "/home"},
    "lustre": {"capacity_gb": 18000, "throughput_mbps_per_tib": 500},
    "parallelstore": {"capacity_gb": 12000},
    "hyperdisk_ml": {"size_gb": 1024, "throughput_mibps": 2400, "source_snapshot": "llama-weights"},
}
TYPES = {
    "bucket": "gcp:storage/bucket:Bucket",
    "filestore": "gcp:filestore/instance:Instance",
    "lustre": "gcp:lustre/instance:Instance",
    "parallelstore": "gcp:parallelstore/instance:Instance",
    "hyperdisk_ml": "gcp:compute/disk:Disk",
}


def build(storage, protect=True):
    def program():
        net = ClusterNetwork("env", {"region": "us-central1"})
        ClusterStorage(
            "train-storage",
            {
                "environment": "prod",
                "cluster": "train",
                "workload": "pretraining",
                "region": "us-central1",
                "zone": "us-central1-a",
                "network": net.host_network,
                "private_services_range": net.private_services_range,
                "storage": storage,
                "protect_data": protect,
            },
        )

    return mocked(program)


@pytest.mark.parametrize("kind", list(ALL))
def test_every_stateful_kind_is_protected_and_retained(kind):
    reg = build({kind: ALL[kind], **({"bucket": {"enabled": False}} if kind != "bucket" else {})})
    r = reg.one(TYPES[kind])
    assert r.protect and r.retain_on_delete
    assert labels_of(r)["ai-cluster"] == "train" and labels_of(r)["ai-workload"] == "pretraining"


def test_an_environment_that_opts_out_is_not_protected():
    reg = build({"filestore": ALL["filestore"]}, protect=False)
    fs = reg.one(TYPES["filestore"])
    assert not fs.protect and not fs.retain_on_delete and fs.inputs["deletionProtectionEnabled"] is False
    assert reg.one(TYPES["bucket"]).inputs["forceDestroy"] is True


def test_bucket_is_uniform_private_hierarchical_with_soft_delete_and_lifecycle():
    b = build({"bucket": ALL["bucket"]}).one(TYPES["bucket"]).inputs
    assert b["uniformBucketLevelAccess"] is True and b["publicAccessPrevention"] == "enforced"
    assert b["hierarchicalNamespace"] == {"enabled": True}
    assert b["softDeletePolicy"]["retentionDurationSeconds"] == 14 * 86400
    assert {r["action"]["type"] for r in b["lifecycleRules"]} == {"Delete", "SetStorageClass"}
    assert b["forceDestroy"] is False


def test_file_systems_attach_through_private_services_access():
    reg = build({k: v for k, v in ALL.items() if k in ("filestore", "lustre", "parallelstore")})
    fs = reg.one(TYPES["filestore"]).inputs
    assert fs["tier"] == "ZONAL" and fs["location"] == "us-central1-a" and fs["deletionProtectionEnabled"] is True
    assert fs["networks"][0]["connectMode"] == "PRIVATE_SERVICE_ACCESS" and fs["networks"][0]["network"] == "env-host"
    lustre = reg.one(TYPES["lustre"]).inputs
    assert lustre["capacityGib"] == "18000" and lustre["perUnitStorageThroughput"] == "500"
    assert lustre["network"] == "projects/mock-project/global/networks/env-host"
    assert reg.one(TYPES["parallelstore"]).inputs["deploymentType"] == "SCRATCH"


def test_hyperdisk_ml_from_a_snapshot_is_read_only_for_many_nodes():
    d = build({"hyperdisk_ml": ALL["hyperdisk_ml"]}).one(TYPES["hyperdisk_ml"]).inputs
    assert d["type"] == "hyperdisk-ml" and d["accessMode"] == "READ_ONLY_MANY" and d["provisionedThroughput"] == 2400


def test_mounts_say_what_each_node_mounts():
    captured = {}

    def program():
        net = ClusterNetwork("env", {"region": "us-central1"})
        s = ClusterStorage("m", {"environment": "p", "cluster": "m", "workload": "pretraining", "region": "us-central1", "zone": "us-central1-a", "network": net.host_network, "storage": ALL})
        s.mounts.apply(lambda ms: captured.setdefault("mounts", ms))

    mocked(program)
    kinds = {m["kind"]: m for m in captured["mounts"]}
    assert set(kinds) == {"gcsfuse", "filestore", "lustre", "parallelstore", "hyperdisk-ml"}
    assert kinds["filestore"]["mount_point"] == "/home" and kinds["filestore"]["source"].endswith(":/share")
    assert "@tcp:/lustrefs" in kinds["lustre"]["source"]
    assert kinds["hyperdisk-ml"]["options"].startswith("ro")


@pytest.mark.parametrize(
    "storage, message",
    [
        ({"filestore": {"tier": "BASIC_SSD", "capacity_gb": 1024}}, "storage.filestore.capacityGb: BASIC_SSD takes 2560-"),
        ({"filestore": {"tier": "PLATINUM"}}, "storage.filestore.tier: 'PLATINUM' is not one of ZONAL, REGIONAL, ENTERPRISE, BASIC_HDD, BASIC_SSD"),
        ({"lustre": {"capacity_gb": 20000, "throughput_mbps_per_tib": 500}}, "storage.lustre.capacityGb: at 500 MB/s per TiB Lustre takes 18000-"),
        ({"lustre": {"throughput_mbps_per_tib": 300}}, "storage.lustre.throughputMbpsPerTib: 300 is not one of 1000, 500, 250, 125"),
        ({"parallelstore": {"capacity_gb": 13000}}, "storage.parallelstore.capacityGb: Parallelstore takes 12000-100000 GiB in steps of 4000, not 13000"),
        ({"bucket": {"soft_delete_days": 3}}, "storage.bucket.softDeleteDays: soft delete keeps 7-90 days (0 turns it off), not 3"),
    ],
)
def test_bad_sizes_fail_before_anything_is_registered(storage, message):
    errors = []

    def program():
        try:
            ClusterStorage("s", {"environment": "p", "cluster": "c", "workload": "pretraining", "region": "us-central1", "zone": "us-central1-a", "network": "n", "storage": storage})
        except SpecError as exc:
            errors.append(str(exc))

    assert mocked(program).all == []
    assert message in errors[0]


def test_file_systems_need_a_network():
    with pytest.raises(SpecError, match="network: is required for Filestore, Lustre and Parallelstore"):
        ClusterStorage("s", {"environment": "p", "cluster": "c", "workload": "hpc", "region": "us-central1", "zone": "us-central1-a", "storage": {"filestore": {}}})


@pytest.mark.parametrize(
    "cluster",
    [
        {"name": "vm", "path": "compute-engine", "machineType": "g2-standard-8", "workload": {"kind": "inference", "accelerators": 1}, "zone": "us-central1-a"},
        {"name": "hpc", "path": "slurm", "machineType": "g2-standard-8", "workload": {"kind": "hpc", "accelerators": 2}, "zone": "us-central1-a", "nodes": 2},
        {"name": "tpu", "path": "tpu", "tpu": {"type": "v5litepod-8"}, "workload": {"kind": "inference", "accelerators": 8}, "zone": "us-west4-a"},
    ],
    ids=lambda c: c["path"],
)
def test_a_cluster_without_a_bucket_grants_no_access_to_one(cluster):
    """`storage.bucket.enabled: false` must not leave an IAM member pointing at an empty bucket name (`pulumi up` fails on it)."""
    import json

    from ai_clusters.core.spec import load_environment
    from ai_clusters.program import build as build_program

    region = cluster["zone"].rsplit("-", 1)[0]
    env = load_environment(
        {
            "gcp:project": "acme-ml-test",
            "gcp:region": region,
            "ai-clusters:environment": "test",
            "ai-clusters:zones": json.dumps([cluster["zone"]]),
            "ai-clusters:clusters": json.dumps([{**cluster, "storage": {"bucket": {"enabled": False}}}]),
        }
    )
    reg = mocked(lambda: build_program(env, "test"))
    assert not [r for r in reg.of_type("gcp:storage/bucket:Bucket") if "-data" in r.name]
    members = reg.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    assert all(r.inputs.get("bucket") for r in members), [(r.name, r.inputs.get("bucket")) for r in members]
    if cluster["path"] != "slurm":
        assert not members
