"""SlurmCluster under mocks: what the controller, login nodes and node sets receive, and what the
configuration slurm-gcp reads says."""

import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from ai_clusters import ClusterNetwork, SlurmCluster
from ai_clusters.core.catalog import catalog
from ai_clusters.core.nics import extra_nic_plan
from ai_clusters.tooling.plan import make_plan
from ai_clusters.tooling.plan.policy import run_policy_pack
from ai_clusters.program import accelerator_networks, build
from ai_clusters.slurm.config import BOOTSTRAP, CGROUP_CONF_TPL, SLURM_CONF_TPL, SLURMDBD_CONF_TPL, slurm_conf_tpl
from ai_clusters.core.spec import SpecError, load_environment

from .conftest import ROOT, Registered, labels_of, mocked

INSTANCE = "gcp:compute/instance:Instance"
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
NETWORK = "gcp:compute/network:Network"
POLICY = "gcp:compute/resourcePolicy:ResourcePolicy"
OBJECT = "gcp:storage/bucketObject:BucketObject"
BUCKET = "gcp:storage/bucket:Bucket"
FILESTORE = "gcp:filestore/instance:Instance"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
DATA = Path(__file__).parent / "data"
FACTS = json.loads((DATA / "slurm_gcp_config.json").read_text())
EXAMPLE = "slurm-a3mega"


def plain(value: Any) -> Any:
    """A secret input as the engine receives it, unwrapped (bucket object content is secret in pulumi-gcp)."""
    return value["value"] if isinstance(value, dict) and SECRET_SIG in value else value


def stack(*clusters: dict, zones=("us-central1-a", "us-central1-b", "us-central1-c"), **extra: Any) -> dict:
    cfg = {
        "gcp:project": "acme-ml-test",
        "gcp:region": "us-central1",
        "ai-clusters:environment": "test",
        "ai-clusters:zones": json.dumps(list(zones)),
        "ai-clusters:clusters": json.dumps(list(clusters)),
    }
    cfg.update({f"ai-clusters:{k}": json.dumps(v) for k, v in extra.items()})
    return cfg


def slurm_cluster(**over: Any) -> dict:
    base = {
        "name": "hpc",
        "path": "slurm",
        "workload": {"kind": "pretraining", "accelerators": 16},
        "machineType": "a3-megagpu-8g",
        "zone": "us-central1-a",
        "storage": {"lustre": {"capacityGb": 18000}},
    }
    base.update(over)
    return base


def run_stack(cfg: dict) -> Registered:
    env = load_environment(cfg)
    return mocked(lambda: build(env, "test"))


def objects(reg: Registered) -> dict[str, str]:
    """Bucket object name -> content."""
    return {plain(o.inputs["name"]).split("/", 1)[1]: plain(o.inputs.get("content")) for o in reg.of_type(OBJECT) if o.inputs.get("content")}


def doc(reg: Registered, name: str) -> dict:
    return yaml.safe_load(objects(reg)[name])


# ---- the example stack: planned with the policy pack ---------------------------------------------

@pytest.fixture(scope="module")
def example():
    return make_plan(EXAMPLE, ROOT, policy_runner=run_policy_pack)


def test_the_example_stack_plans_without_a_mandatory_violation(example):
    assert example.mandatory_failures == [], [v.message for v in example.mandatory_failures]
    assert example.exit_code == 0
    assert {r.type for r in example.resources} >= {INSTANCE, TEMPLATE, OBJECT, FILESTORE, "gcp:lustre/instance:Instance"}


def test_the_example_controller_and_login_nodes(example):
    reg = Registered(example.run)
    controller = reg.named("llm-controller").inputs
    assert controller["name"] == "llm-controller", "slurm-gcp's default control host is CLUSTER-controller"
    assert controller["machineType"] == catalog().data.slurm.controller_machine_type
    assert controller["zone"] == "us-central1-a"
    assert controller["bootDisk"]["initializeParams"]["image"] == "projects/schedmd-slurm-public/global/images/family/slurm-gcp-6-12-ubuntu-2204-lts-nvidia-570"
    assert controller["deletionProtection"] is True
    login = reg.named("llm-login-1").inputs
    assert login["name"] == "llm-login-001"
    for vm, role in ((controller, "controller"), (login, "login")):
        assert len(vm["networkInterfaces"]) == 1 and not vm["networkInterfaces"][0].get("accessConfigs"), "no external IP"
        assert vm["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True}
        md = vm["metadata"]
        assert md["enable-oslogin"] == "TRUE" and md["block-project-ssh-keys"] == "TRUE"
        assert md["slurm_instance_role"] == role and md["slurm_cluster_name"] == "llm" and md["universe_domain"] == "googleapis.com"
        assert md["slurm_bucket_path"].startswith("gs://") and md["slurm_bucket_path"].endswith("/llm-files")
        # the pinned release's scripts, staged in the config bucket: nodes need no internet to start
        assert md["slurm_scripts_url"] == md["slurm_bucket_path"] + f"/slurm-gcp-scripts-{catalog().data.slurm.toolkit_commit[:12]}.tar.gz"
        assert vm["metadata"]["startup-script"] == BOOTSTRAP
        assert vm["scheduling"]["onHostMaintenance"] == "MIGRATE", "CPU VMs live-migrate"
        assert vm["labels"]["slurm_instance_role"] == role and vm["labels"]["ai-cluster"] == "llm"
    assert controller["metadata"]["slurm_ha_role"] == "primary"
    assert login["metadata"]["slurm_login_group"] == "login"
    assert controller["serviceAccount"]["email"].startswith("llm-ctl@")
    assert login["serviceAccount"]["email"].startswith("llm-login@")


def test_the_example_node_sets(example):
    reg = Registered(example.run)
    fam = catalog().family("a3-mega")
    a3 = reg.named("llm-a3mega").inputs
    assert a3["machineType"] == "a3-megagpu-8g" and a3["namePrefix"] == "llm-a3mega-"
    nics = a3["networkInterfaces"]
    assert len(nics) == 1 + len(extra_nic_plan(fam)) == 9
    networks = {n.outputs["selfLink"]: n for n in reg.of_type(NETWORK)}
    assert all(networks[n["network"]].inputs["mtu"] == fam.network.gpu_mtu for n in nics[1:])
    assert a3["scheduling"]["onHostMaintenance"] == "TERMINATE"
    assert a3["reservationAffinity"]["specificReservation"]["values"] == ["a3mega-llm"]
    assert a3["resourcePolicies"].endswith("/resourcePolicies/llm-a3mega-placement")
    placement = reg.named("llm-a3mega-placement").inputs["groupPlacementPolicy"]
    assert placement == {"vmCount": 8, "collocation": "COLLOCATED"}
    labels = labels_of(reg.named("llm-a3mega"))
    assert labels["ai-nodes"] == "8" and labels["ai-accelerators"] == "64" and labels["ai-provisioning"] == "reservation"
    assert labels["slurm_cluster_name"] == "llm" and labels["slurm_instance_role"] == "compute" and labels["slurm_nodeset"] == "a3mega"
    assert a3["metadata"]["slurm_instance_role"] == "compute" and a3["metadata"]["startup-script"] == BOOTSTRAP
    assert a3["serviceAccount"]["email"].startswith("llm-nodes@")

    debug = reg.named("llm-debug").inputs
    assert debug["machineType"] == "n2-standard-8" and len(debug["networkInterfaces"]) == 1
    assert debug["scheduling"]["provisioningModel"] == "SPOT" and debug["scheduling"]["instanceTerminationAction"] == "DELETE"
    assert not debug.get("resourcePolicies") and not debug.get("guestAccelerators")
    assert labels_of(reg.named("llm-debug"))["ai-nodes"] == "4" and labels_of(reg.named("llm-debug"))["ai-accelerators"] == "0"


def test_the_example_configuration_is_what_slurm_gcp_reads(example):
    reg = Registered(example.run)
    stored = objects(reg)
    assert set(stored) >= {
        "config.yaml",
        "nodeset_configs/a3mega.yaml",
        "nodeset_configs/debug.yaml",
        "partition_configs/a3mega.yaml",
        "partition_configs/debug.yaml",
        "login_group_configs/login.yaml",
        "slurm-controller-script-ai-clusters_sh",
        "slurm-nodeset-a3mega-script-ai-clusters_sh",
        "slurm-login-login-script-ai-clusters_sh",
    }
    core = doc(reg, "config.yaml")
    assert list(core) == FACTS["config_yaml"] or set(core) == set(FACTS["config_yaml"]), "the keys the Toolkit writes"
    assert core["slurm_cluster_name"] == "llm" and core["project"] == "acme-ml-research"
    assert core["bucket_path"].endswith("/llm-files") and core["cloudsql_secret"] is None
    fstab = {m["local_mount"]: m for m in core["network_storage"]}
    assert fstab["/home"]["fs_type"] == "nfs" and fstab["/home"]["remote_mount"] == "/share"
    assert fstab["/lustre"]["fs_type"] == "lustre" and fstab["/lustre"]["server_ip"].endswith("@tcp") and fstab["/lustre"]["remote_mount"] == "/lustrefs"
    gcs = next(m for m in core["network_storage"] if m["fs_type"] == "gcsfuse")
    assert gcs["server_ip"] == "" and "allow_other" in gcs["mount_options"]
    assert core["slurm_conf_tpl"] == slurm_conf_tpl(catalog().data.slurm.long_prolog) and core["cgroup_conf_tpl"] == CGROUP_CONF_TPL
    assert core["enable_slurm_auth"] is True and core["slurm_key_mount"] is None, "auth/slurm, the key shared by the controller"
    assert core["prolog_scripts"] == core["epilog_scripts"] == ["ai-clusters-rxdm_sh"]
    assert "slurm-prolog-script-ai-clusters-rxdm_sh" in stored and "slurm-epilog-script-ai-clusters-rxdm_sh" in stored

    a3 = doc(reg, "nodeset_configs/a3mega.yaml")
    assert set(a3) == set(FACTS["nodeset_config"])
    template = reg.named("llm-a3mega").outputs["selfLink"]
    assert a3["instance_template"] == template
    assert (a3["node_count_static"], a3["node_count_dynamic_max"], a3["enable_placement"]) == (8, 0, True)
    assert a3["reservation_name"] == "projects/acme-ml-research/reservations/a3mega-llm"
    assert a3["zone_policy_allow"] == ["us-central1-a"] and "/regions/us-central1/subnetworks/" in a3["subnetwork"]
    assert a3["node_conf"] == catalog().data.slurm.node_conf_of("a3-megagpu-8g").conf == {"CoresPerSocket": 52, "ThreadsPerCore": 2}
    assert "advancedMachineFeatures" not in reg.named("llm-a3mega").inputs, "SMT at the platform default, as ThreadsPerCore 2 says"
    assert debug_conf_is_slurm_gcps(doc(reg, "nodeset_configs/debug.yaml"))
    debug = doc(reg, "nodeset_configs/debug.yaml")
    assert (debug["node_count_static"], debug["node_count_dynamic_max"], debug["enable_placement"]) == (0, 4, False)

    part = doc(reg, "partition_configs/a3mega.yaml")
    assert set(part) == set(FACTS["partition_config"])
    assert part["partition_nodeset"] == ["a3mega"] and part["partition_conf"]["Default"] == "YES"
    # static nodes cannot be job-exclusive in slurm-gcp: whole nodes come from OverSubscribe instead
    assert part["enable_job_exclusive"] is False and part["partition_conf"]["OverSubscribe"] == "EXCLUSIVE"
    dbg = doc(reg, "partition_configs/debug.yaml")
    assert "Default" not in dbg["partition_conf"] and dbg["partition_conf"]["MaxTime"] == "02:00:00"
    assert set(doc(reg, "login_group_configs/login.yaml")) == set(FACTS["login_group_config"])
    assert "mdadm" in stored["slurm-nodeset-a3mega-script-ai-clusters_sh"], "A3 Mega local SSDs become one RAID 0 scratch array"
    assert "mdadm" not in stored["slurm-nodeset-debug-script-ai-clusters_sh"]


def debug_conf_is_slurm_gcps(ns: dict) -> bool:
    """A CPU node set without overrides: slurm-gcp derives its node line from the template."""
    return ns["node_conf"] == {}


def test_the_config_is_written_last_and_the_controller_waits_for_it(example):
    reg = Registered(example.run)
    config = reg.named("llm-config-yaml")
    others = [o.urn for o in reg.of_type(OBJECT) if o.name != "llm-config-yaml" and o.parent == config.parent]
    assert set(others) <= set(config.dependencies)
    assert config.urn in reg.named("llm-controller").dependencies


def test_the_example_stores_data_safely_and_grants_least_privilege(example):
    reg = Registered(example.run)
    config_bucket = reg.named("llm-config")
    assert config_bucket.protect and config_bucket.retain_on_delete
    assert config_bucket.inputs["publicAccessPrevention"] == "enforced" and config_bucket.inputs["uniformBucketLevelAccess"] is True
    home = reg.named("llm-home-filestore")
    assert home.protect and home.inputs["deletionProtectionEnabled"] is True
    roles = {(r.name, r.inputs["role"]) for r in reg.of_type("gcp:projects/iAMMember:IAMMember") if r.name.startswith("llm-")}
    assert ("llm-controller-compute-instanceAdmin-v1", "roles/compute.instanceAdmin.v1") in roles
    assert not [n for n, role in roles if "instanceAdmin" in role and not n.startswith("llm-controller")]
    assert all(role not in ("roles/editor", "roles/owner") for _, role in roles)
    acts = reg.named("llm-controller-acts-as-compute").inputs
    assert acts["role"] == "roles/iam.serviceAccountUser" and "llm-nodes" in acts["serviceAccountId"]
    readers = {(b.name, b.inputs["role"]) for b in reg.of_type("gcp:storage/bucketIAMMember:BucketIAMMember") if "config" in b.name}
    assert len(readers) == 6 and {r for _, r in readers} == {"roles/storage.objectViewer", "roles/storage.legacyBucketReader"}


def test_the_example_outputs(example):
    out = example.run.exports["llm"]
    assert out["controller_name"] == "llm-controller"
    assert out["login_names"] == ["llm-login-001"]
    assert out["ssh_command"] == "gcloud compute ssh llm-login-001 --zone us-central1-a --tunnel-through-iap --project acme-ml-research"
    assert out["partition_names"] == ["a3mega", "debug"]
    assert out["blueprint_path"] == f"blueprints/{EXAMPLE}-llm.yaml"
    assert {"/home", "/lustre"} <= set(out["mount_points"])
    assert "labels.slurm_cluster_name=llm" in out["cleanup_command"]
    assert [n["name"] for n in out["node_sets"]] == ["a3mega", "debug"]


def test_the_example_plans_as_json_through_the_command_line():
    from typer.testing import CliRunner

    from ai_clusters.tooling.cli import app

    result = CliRunner().invoke(app, ["plan", "--stack", EXAMPLE, "--project-dir", str(ROOT), "--format", "json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert any(r["type"] == TEMPLATE and r["inputs"]["machineType"] == "a3-megagpu-8g" for r in plan["resources"])


# ---- other shapes -----------------------------------------------------------------------------

def test_default_layout_is_one_node_set_and_one_exclusive_partition():
    reg = run_stack(stack(slurm_cluster(nodes=2)))
    template = reg.named("hpc-a3mega").inputs
    assert template["machineType"] == "a3-megagpu-8g"
    part = doc(reg, "partition_configs/a3mega.yaml")
    assert part["partition_nodeset"] == ["a3mega"] and part["partition_conf"]["OverSubscribe"] == "EXCLUSIVE"
    assert doc(reg, "nodeset_configs/a3mega.yaml")["node_count_static"] == 2
    assert reg.named("hpc-home-filestore").inputs["fileShares"]["capacityGb"] == 1024, "a /home is created when the storage has none"


def test_storage_with_a_home_gets_no_second_filestore():
    reg = run_stack(stack(slurm_cluster(storage={"filestore": {"mountPoint": "/home"}, "lustre": {"capacityGb": 18000}})))
    homes = [r for r in reg.of_type(FILESTORE)]
    assert [r.name for r in homes] == ["hpc-storage-filestore"]
    assert [m["local_mount"] for m in doc(reg, "config.yaml")["network_storage"]].count("/home") == 1


def test_a3_ultra_node_sets_get_rdma_nics_and_bind_to_their_reservation():
    cl = slurm_cluster(
        machineType="a3-ultragpu-8g",
        zone="us-central1-b",
        provisioning={"model": "reservation", "reservation": "ultra"},
        slurm={"nodeSets": [{"name": "ultra", "staticNodes": 2}], "partitions": [{"name": "gpu", "nodeSets": ["ultra"]}]},
    )
    reg = run_stack(stack(cl))
    t = reg.named("hpc-ultra").inputs
    fam = catalog().family("a3-ultra")
    assert [n["nicType"] for n in t["networkInterfaces"]] == ["GVNIC", *[k.value for k, _, _ in extra_nic_plan(fam)]]
    networks = {n.outputs["selfLink"]: n for n in reg.of_type(NETWORK)}
    rdma = [networks[n["network"]] for n in t["networkInterfaces"] if n["nicType"] == "MRDMA"]
    assert len(rdma) == 8 and all(n.inputs["networkProfile"].endswith("us-central1-b-vpc-roce") for n in rdma)
    assert t["scheduling"]["provisioningModel"] == "RESERVATION_BOUND"
    assert doc(reg, "partition_configs/gpu.yaml")["partition_conf"]["Default"] == "YES", "the only partition is the default"


def test_flex_start_node_sets_are_dynamic_and_wait_for_capacity():
    cl = slurm_cluster(provisioning={"model": "flex-start", "maxRunHours": 24}, nodes=4, workload={"kind": "pretraining", "accelerators": 32})
    reg = run_stack(stack(cl))
    t = reg.named("hpc-a3mega").inputs
    assert t["scheduling"]["provisioningModel"] == "FLEX_START" and t["scheduling"]["maxRunDuration"] == {"seconds": 86400}
    ns = doc(reg, "nodeset_configs/a3mega.yaml")
    assert (ns["node_count_static"], ns["node_count_dynamic_max"]) == (0, 4)
    assert ns["dws_flex"] == {"enabled": True, "max_run_duration": 86400, "use_job_duration": False, "use_bulk_insert": False}
    part = doc(reg, "partition_configs/a3mega.yaml")
    assert part["enable_job_exclusive"] is True and part["partition_conf"]["ResumeTimeout"] == 65535


def test_mixed_families_get_each_familys_networks_and_a_g2_set_can_declare_its_own_workload():
    cl = slurm_cluster(
        machineType="a3-megagpu-8g",
        nodes=2,
        workload={"kind": "pretraining", "accelerators": 36},  # every GPU node set: 2 x 8 + 2 x 8 + 2 x 2
        slurm={
            "nodeSets": [
                {"name": "mega"},
                {"name": "ultra", "machineType": "a3-ultragpu-8g", "staticNodes": 2, "provisioning": "spot"},
                {"name": "eval", "machineType": "g2-standard-24", "dynamicNodes": 2, "workload": "inference"},
            ],
            "partitions": [
                {"name": "train", "nodeSets": ["mega"], "default": True},
                {"name": "ultra", "nodeSets": ["ultra"]},
                {"name": "eval", "nodeSets": ["eval"]},
            ],
        },
    )
    cfg = stack(cl, zones=("us-central1-b",))
    cfg_cl = json.loads(cfg["ai-clusters:clusters"])
    cfg_cl[0]["zone"] = "us-central1-b"
    cfg["ai-clusters:clusters"] = json.dumps(cfg_cl)
    env = load_environment(cfg)
    assert {(n["family"]) for n in accelerator_networks(env)} == {"a3-mega", "a3-ultra"}
    reg = mocked(lambda: build(env, "test"))
    assert len(reg.named("hpc-mega").inputs["networkInterfaces"]) == 9
    assert len(reg.named("hpc-ultra").inputs["networkInterfaces"]) == 10
    g2 = reg.named("hpc-eval")
    assert len(g2.inputs["networkInterfaces"]) == 1 and labels_of(g2)["ai-workload"] == "inference"
    assert doc(reg, "partition_configs/eval.yaml")["enable_job_exclusive"] is False, "not a training partition"


def test_cloud_sql_accounting_is_private_and_only_the_controller_reads_its_secret():
    cl = slurm_cluster(slurm={"accounting": {"passwordSecret": "slurm-db-password"}})
    reg = run_stack(stack(cl))
    sql = reg.one("gcp:sql/databaseInstance:DatabaseInstance")
    ip = sql.inputs["settings"]["ipConfiguration"]
    assert ip["ipv4Enabled"] is False and ip["privateNetwork"].endswith("/networks/test-host")
    assert sql.protect and sql.inputs["deletionProtection"] is True
    secret = reg.one("gcp:secretmanager/secret:Secret").inputs
    assert secret["secretId"] == "hpc-slurm-secret-cloudsql", "the name slurm-gcp's conf.py reads"
    grant = reg.one("gcp:secretmanager/secretIamMember:SecretIamMember").inputs
    assert grant["role"] == "roles/secretmanager.secretAccessor" and grant["member"].startswith("serviceAccount:hpc-ctl@")
    assert doc(reg, "config.yaml")["cloudsql_secret"]
    assert reg.one("gcp:sql/database:Database").inputs["name"] == "slurm_accounting"


def test_uploaded_scripts_replace_the_release_download(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "setup.py").write_text("#!/usr/bin/env python3\n")
    reg = run_stack(stack(slurm_cluster(slurm={"scriptsDir": str(scripts)})))
    zips = {plain(o.inputs["name"]) for o in reg.of_type(OBJECT) if "devel" in o.name}
    assert zips == {"hpc-files/slurm-gcp-devel-controller.zip", "hpc-files/slurm-gcp-devel.zip"}
    assert reg.named("hpc-controller").inputs["metadata"]["slurm_scripts_url"] == ""
    assert not [o for o in reg.of_type(OBJECT) if o.name == "hpc-slurm-gcp-scripts"], "nothing else staged"


def test_the_scripts_tarball_is_staged_in_the_bucket_unless_nodes_download_it():
    import pulumi

    facts = catalog().data.slurm
    reg = run_stack(stack(slurm_cluster(nodes=2)))
    staged = reg.named("hpc-slurm-gcp-scripts").inputs
    assert isinstance(staged["source"], pulumi.RemoteAsset) and staged["source"].uri == f"https://github.com/GoogleCloudPlatform/cluster-toolkit/archive/{facts.toolkit_commit}.tar.gz"
    assert staged["name"] == f"hpc-files/slurm-gcp-scripts-{facts.toolkit_commit[:12]}.tar.gz"
    md = reg.named("hpc-controller").inputs["metadata"]
    assert md["slurm_scripts_url"] == f"{md['slurm_bucket_path']}/slurm-gcp-scripts-{facts.toolkit_commit[:12]}.tar.gz"
    assert reg.named("hpc-slurm-gcp-scripts").urn in reg.named("hpc-config-yaml").dependencies, "there before any node starts"

    direct = run_stack(stack(slurm_cluster(nodes=2, slurm={"stageScripts": False})))
    assert not [o for o in direct.of_type(OBJECT) if o.name == "hpc-slurm-gcp-scripts"]
    assert direct.named("hpc-controller").inputs["metadata"]["slurm_scripts_url"].startswith("https://github.com/")
    mirror = run_stack(stack(slurm_cluster(nodes=2, slurm={"scriptsUrl": "gs://mirror/ct.tar.gz"})))
    assert not [o for o in mirror.of_type(OBJECT) if o.name == "hpc-slurm-gcp-scripts"], "a gs:// mirror is read where it is"
    assert mirror.named("hpc-login-1").inputs["metadata"]["slurm_scripts_url"] == "gs://mirror/ct.tar.gz"


def test_hyperdisk_ml_and_parallelstore_are_mounted_by_our_script():
    cl = slurm_cluster(
        workload={"kind": "finetuning", "accelerators": 16},
        storage={"filestore": {}, "parallelstore": {}, "hyperdiskMl": {"sizeGb": 1000}},
    )
    reg = run_stack(stack(cl))
    stored = objects(reg)
    script = stored["slurm-nodeset-a3mega-script-ai-clusters_sh"]
    assert "dfuse" in script and "google-models" in script
    assert "google-models" not in stored["slurm-controller-script-ai-clusters_sh"], "the model disk is attached to GPU nodes only"
    kinds = {m["fs_type"] for m in doc(reg, "config.yaml")["network_storage"]}
    assert kinds == {"nfs", "gcsfuse"}
    disks = reg.named("hpc-a3mega").inputs["disks"]
    assert any(d.get("mode") == "READ_ONLY" for d in disks)


# ---- bad input ------------------------------------------------------------------------------

ARGS = {
    "environment": "test",
    "region": "us-central1",
    "zone": "us-central1-a",
    "workload": {"kind": "pretraining", "accelerators": 16},
    "machine_type": "a3-megagpu-8g",
    "nodes": 2,
}


def attempt(**over: Any) -> str:
    args = {**ARGS, "network": {"host_network": "h", "host_subnetwork": "s"}, **over}
    with pytest.raises(SpecError) as info:
        SlurmCluster("bad", args)
    return str(info.value)


def test_bad_layouts_end_in_one_error_naming_every_key_and_create_nothing():
    errors: list[str] = []

    def program():
        errors.append(
            attempt(
                slurm={
                    "image_family": "slurm-gcp-6-12-hpc-rocky-linux-8",
                    "controller": {"machine_type": "a3-megagpu-8g"},
                    "node_sets": [
                        {"name": "a3mega", "static_nodes": 2},
                        {"name": "cpu", "machine_type": "n9-standard-8", "dynamic_nodes": 2},
                        {"name": "flex", "machine_type": "n2-standard-8", "static_nodes": 1, "provisioning": {"model": "flex-start"}},
                        {"name": "big", "static_nodes": 2000},
                        {"name": "ultra", "machine_type": "a3-ultragpu-8g", "static_nodes": 1},
                    ],
                    "partitions": [{"name": "all", "node_sets": ["a3mega", "cpu", "flex", "big", "ultra"]}],
                }
            )
        )
        errors.append(attempt())  # A3 Mega without its GPU NICs
        errors.append(attempt(slurm={"node_sets": [{"name": "a3mega"}], "partitions": [{"name": "p", "node_sets": ["nope"]}]}))
        errors.append(attempt(slurm={"node_sets": [{"name": "x", "machine_type": "n2-standard-8"}]}))
        errors.append(attempt(node_set_networks={"ghost": {"host_network": "h", "host_subnetwork": "s"}}))

    reg = mocked(program)
    assert reg.all == [], "nothing is half-created"
    first = errors[0]
    assert "slurm.controller.machineType: 'a3-megagpu-8g' is not a CPU machine type of the catalog" in first
    assert "slurm.nodeSets[0].imageFamily: GPU nodes boot with Secure Boot, which needs signed NVIDIA drivers" in first
    assert "slurm.nodeSets[1].machineType: 'n9-standard-8' is neither a GPU machine type nor a CPU machine type" in first
    assert "slurm.nodeSets[2].provisioning.model: flex-start (Dynamic Workload Scheduler) is for GPU node sets here" in first
    assert "slurm.nodeSets[2].staticNodes: flex-start capacity comes per job" in first
    assert "slurm.nodeSets[3]: 2000 nodes exceed A3 Mega's compact placement limit of 1500 VMs" in first
    assert "slurm.nodeSets[4].machineType: a3-ultragpu-8g (A3 Ultra) is not offered in the cluster's zone us-central1-a" in first
    assert "slurm.nodeSets[4].provisioning.model: a3-ultragpu-8g cannot be had on-demand" in first
    assert "network: node set a3mega: A3 Mega needs 8 NICs after nic0 (8 GVNIC); the network gives 0" in errors[1]
    assert "slurm: partition 'p' names unknown node sets nope; known: a3mega; node sets a3mega are in no partition" in errors[2]
    assert "slurm.nodeSets[0]: node set 'x' has its own machine type: give staticNodes and/or dynamicNodes" in errors[3]
    assert "nodeSetNetworks.ghost: is not a node set" in errors[4]


def test_bad_stack_options_name_the_stack_key():
    with pytest.raises(SpecError) as info:
        load_environment(stack(slurm_cluster(slurm={"nodeSets": [{"name": "Bad_Name"}], "login": {"count": 0}, "home": {"mountPoint": "/data"}})))
    text = str(info.value)
    assert "clusters[0].slurm.nodeSets[0].name" in text
    assert "clusters[0].slurm.login.count" in text
    assert "clusters[0].slurm.home: the home file system is mounted at /home, not /data" in text
    with pytest.raises(SpecError) as info:
        load_environment(stack(slurm_cluster(computeEngine={"bootDiskGb": 100})))
    assert "`computeEngine` options apply to path 'compute-engine'" in str(info.value)


def test_a_bad_slurm_stack_fails_the_plan_with_exit_code_2(tmp_path):
    from typer.testing import CliRunner

    from ai_clusters.tooling.cli import app

    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "__main__.py").write_text((ROOT / "__main__.py").read_text())
    bad = slurm_cluster(slurm={"nodeSets": [{"name": "debug", "machineType": "n2-standard-9", "dynamicNodes": 1}], "partitions": [{"name": "d", "nodeSets": ["debug"]}]})
    cfg = {"config": {"gcp:project": "acme-ml-test", "gcp:region": "us-central1", "ai-clusters:environment": "t", "ai-clusters:zones": ["us-central1-a"], "ai-clusters:clusters": [bad]}}
    (tmp_path / "stacks" / "Pulumi.bad.yaml").write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(app, ["plan", "--stack", "bad", "--project-dir", str(tmp_path), "--no-policy"])
    assert result.exit_code == 2
    assert "slurm.nodeSets[0].machineType: 'n2-standard-9' is neither" in " ".join(result.output.split())


# ---- the configuration templates and the bootstrap -----------------------------------------------

def test_conf_templates_take_exactly_the_placeholders_slurm_gcp_fills():
    import string

    def fields(tpl: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(tpl) if f}

    assert fields(SLURM_CONF_TPL) <= set(FACTS["slurm_conf_placeholders"])
    assert fields(SLURMDBD_CONF_TPL) <= set(FACTS["slurmdbd_conf_placeholders"])
    assert {"name", "slurmctld_hosts", "auth_key", "control_host_port", "accounting_storage_host", "state_save"} <= fields(SLURM_CONF_TPL)
    filled = SLURM_CONF_TPL.format(**{k: f"<{k}>" for k in FACTS["slurm_conf_placeholders"]})
    assert "include cloud.conf" in filled and "ClusterName=<name>" in filled
    assert not fields(CGROUP_CONF_TPL)


def test_the_bootstrap_fetches_only_the_scripts_folder_of_the_pinned_release(tmp_path):
    facts = catalog().data.slurm
    top = f"cluster-toolkit-{facts.toolkit_commit}"
    src = tmp_path / "src"
    for rel in (f"{facts.scripts_path}/setup.py", f"{facts.scripts_path}/tools/gpu-test", "README.md"):
        path = src / top / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
    archive = tmp_path / "toolkit.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / top, arcname=top)
    scripts = tmp_path / "slurm-scripts"
    attrs = {"slurm_instance_role": "compute", "slurm_bucket_path": "gs://b/x-files", "slurm_scripts_url": archive.as_uri(),
             "slurm_scripts_path": facts.scripts_path, "universe_domain": "googleapis.com"}
    script = BOOTSTRAP.replace(
        'attr() { curl -sSf -H Metadata-Flavor:Google "http://metadata.google.internal/computeMetadata/v1/instance/attributes/$1"; }',
        "attr() { v=\"ATTR_$1\"; [ -n \"${!v-}\" ] && printf '%s' \"${!v}\"; }",
    ).replace("SCRIPTS=/slurm/scripts", f"SCRIPTS={scripts}")
    script = script[: script.index("chown -R slurm")]  # stop before changing owners and running setup.py
    env = {"PATH": "/usr/bin:/bin", **{f"ATTR_{k}": v for k, v in attrs.items()}}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(p.relative_to(scripts).as_posix() for p in scripts.rglob("*") if p.is_file()) == ["setup.py", "tools/gpu-test"]


def test_the_bootstrap_is_valid_bash():
    assert subprocess.run(["bash", "-n"], input=BOOTSTRAP, text=True).returncode == 0


def test_a_network_given_as_an_output_is_checked_at_deployment():
    def program():
        net = ClusterNetwork("env", {"region": "us-central1", "accelerator_networks": [{"family": "a3-mega", "zone": "us-central1-a"}]})
        import pulumi

        SlurmCluster("out", {**ARGS, "network": pulumi.Output.from_input(net.attachment("a3-mega", "us-central1-a"))})

    reg = mocked(program)
    assert len(reg.named("out-a3mega").inputs["networkInterfaces"]) == 9
