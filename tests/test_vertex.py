"""The Vertex AI path under mocks: what the persistent resource, pool and endpoint really receive,
the errors bad combinations end in, and how the policy pack reads these resources."""

import copy

import pytest
import yaml

from ai_clusters import VertexServing, VertexTraining
from ai_clusters.core.accelerators import VERTEX_ENDPOINT, VERTEX_PERSISTENT, VERTEX_POOL, accelerator_uses, with_borrowed_labels
from ai_clusters.core.catalog import catalog, region_of
from ai_clusters.core.catalog.models import CatalogData
from ai_clusters.core.cost import resource_cost
from ai_clusters.tooling.plan import make_plan
from ai_clusters.tooling.plan.policy import PolicyPackProcess, run_policy_pack, verdict
from ai_clusters.core.spec import SpecError

from .conftest import ROOT, labels_of, mocked

NUMBER = "123456789012"  # the mocks' project number
HOST = "https://www.googleapis.com/compute/v1/projects/mock-project/global/networks/host"
KEY = "projects/kms-proj/locations/us-central1/keyRings/ring/cryptoKeys/vertex"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
ATTACHMENT = "gcp:compute/networkAttachment:NetworkAttachment"
TENSORBOARD = "gcp:vertex/aiTensorboard:AiTensorboard"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"


def base(kind: str = "finetuning", machine: str = "a3-highgpu-8g", accelerators: int = 8, region: str = "us-central1", **over) -> dict:
    args = {
        "environment": "test",
        "region": region,
        "workload": {"kind": kind, "accelerators": accelerators},
        "machine_type": machine,
        "network": HOST,
        "bucket": "ml-bucket",
    }
    args.update(over)
    return args


def build(component, name: str, args: dict, outputs=()):
    """Run one component under mocks; return the registrations and the named outputs, resolved."""
    got: dict = {}

    def program():
        c = component(name, args)
        for key in outputs:
            getattr(c, key).apply(lambda v, key=key: got.__setitem__(key, v))

    return mocked(program), got


def vertex_cases(purpose: str):
    cat = catalog()
    facts = cat.vertex_facts(purpose)
    for machine in facts.gpu_machine_types:
        if machine in facts.reservation_only:
            continue
        fam, mt = cat.machines[machine]
        zone = next((z for z in fam.zones if z.startswith("us-")), fam.zones[0])
        yield pytest.param(machine, fam.gpu.vertex, mt.gpus, region_of(zone), id=machine)


# ---- machine specs -----------------------------------------------------------------------------

@pytest.mark.parametrize("machine, enum, gpus, region", list(vertex_cases("training")))
def test_every_training_machine_gets_the_accelerator_enum_that_fits_it(machine, enum, gpus, region):
    reg, _ = build(VertexTraining, "ft", base("finetuning", machine, gpus, region))
    (pool,) = reg.one(VERTEX_PERSISTENT).inputs["resourcePools"]
    assert pool["machineSpec"] == {"machineType": machine, "acceleratorType": enum, "acceleratorCount": gpus}
    assert pool["replicaCount"] == "1"
    kinds = set(catalog().families[catalog().machines[machine][0].id].boot_disk_types)
    assert pool["diskSpec"]["bootDiskType"] in kinds and pool["diskSpec"]["bootDiskSizeGb"] == 100


@pytest.mark.parametrize("machine, enum, gpus, region", list(vertex_cases("prediction")))
def test_every_serving_machine_gets_the_accelerator_enum_that_fits_it(machine, enum, gpus, region):
    floor = catalog().vertex_facts("prediction").min_replicas.get(machine, 1)
    reg, _ = build(VertexServing, "svc", base("inference", machine, gpus * floor, region))  # the fewest replicas it serves from
    ded = reg.one(VERTEX_POOL).inputs["dedicatedResources"]
    assert ded["machineSpec"] == {"machineType": machine, "acceleratorType": enum, "acceleratorCount": gpus}
    assert ded["minReplicaCount"] == floor and ded["maxReplicaCount"] >= floor


# ---- VertexTraining ----------------------------------------------------------------------------

def test_training_cluster_is_private_runs_as_its_own_account_and_has_tensorboard_and_staging():
    args = base(vertex={"min_replicas": 1, "max_replicas": 3, "boot_disk_gb": 500, "pools": [{"machine_type": "n2-highcpu-16", "replicas": 2}]},
                workload={"kind": "finetuning", "accelerators": 24}, private_services_range="env-psa", nodes=1)  # 3 replicas at most
    args["machine_type"] = "a3-megagpu-8g"  # Vertex AI sets up GPUDirect-TCPXO on it, so it may scale out
    reg, out = build(VertexTraining, "ft", args, ("persistent_resource_id", "staging_bucket", "custom_job_command", "custom_job_config", "tensorboard", "service_account"))
    pr = reg.one(VERTEX_PERSISTENT).inputs
    assert pr["name"] == "test-ft" and pr["location"] == "us-central1"
    gpu, cpu = pr["resourcePools"]
    assert gpu["machineSpec"] == {"machineType": "a3-megagpu-8g", "acceleratorType": "NVIDIA_H100_MEGA_80GB", "acceleratorCount": 8}
    assert gpu["replicaCount"] == "1" and gpu["autoscalingSpec"] == {"minReplicaCount": "1", "maxReplicaCount": "3"}
    assert gpu["diskSpec"] == {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 500}
    assert cpu["machineSpec"] == {"machineType": "n2-highcpu-16"} and cpu["replicaCount"] == "2" and "autoscalingSpec" not in cpu
    # private: peered through the network's private services access range, named by project number
    assert pr["network"] == f"projects/{NUMBER}/global/networks/host" and pr["reservedIpRanges"] == ["env-psa"]
    assert "pscInterfaceConfig" not in pr
    # jobs must run as a user-managed account
    assert pr["resourceRuntimeSpec"] == {"serviceAccountSpec": {"enableCustomServiceAccount": True}}
    roles = {r.inputs["role"] for r in reg.of_type(PROJECT_MEMBER)}
    assert roles == {"roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/aiplatform.user"}
    assert all(r.inputs["member"] == "serviceAccount:ft-nodes@mock-project.iam.gserviceaccount.com" for r in reg.of_type(PROJECT_MEMBER))
    grant = reg.one("gcp:storage/bucketIAMMember:BucketIAMMember").inputs
    assert grant == {"bucket": "ml-bucket", "role": "roles/storage.objectUser", "member": "serviceAccount:ft-nodes@mock-project.iam.gserviceaccount.com"}
    labels = labels_of(reg.one(VERTEX_PERSISTENT))
    assert labels["ai-workload"] == "finetuning" and labels["ai-path"] == "vertex" and labels["ai-cluster"] == "ft"
    assert labels["ai-accelerators"] == "24" and labels["ai-nodes"] == "3" and labels["ai-min-replicas"] == "1"
    board = reg.one(TENSORBOARD)
    assert board.protect and board.retain_on_delete and board.inputs["region"] == "us-central1"
    assert out["persistent_resource_id"] == "test-ft" and out["staging_bucket"] == "gs://ml-bucket"
    assert out["service_account"] == "ft-nodes@mock-project.iam.gserviceaccount.com"
    cmd = out["custom_job_command"]
    assert cmd.startswith("gcloud ai custom-jobs create --project=mock-project --region=us-central1")
    assert "--persistent-resource-id=test-ft" in cmd and "--service-account=ft-nodes@mock-project.iam.gserviceaccount.com" in cmd
    assert f"--network=projects/{NUMBER}/global/networks/host" in cmd
    assert ("--worker-pool-spec=machine-type=a3-megagpu-8g,replica-count=1,accelerator-type=NVIDIA_H100_MEGA_80GB,accelerator-count=8,"
            "disk-type=pd-ssd,disk-size=500,container-image-uri=IMAGE_URI") in cmd
    assert "--worker-pool-spec=machine-type=n2-highcpu-16,replica-count=2,disk-type=pd-ssd,disk-size=100" in cmd
    spec = yaml.safe_load(out["custom_job_config"])
    assert spec["persistentResourceId"] == "test-ft" and spec["tensorboard"] == out["tensorboard"] != ""
    assert spec["baseOutputDirectory"] == {"outputUriPrefix": "gs://ml-bucket/vertex/ft"}


def test_psc_interface_and_cmek_grant_the_service_agent_only_what_the_docs_ask():
    args = base(vertex={"networking": "private-service-connect", "psc_interface_cidr": "10.90.0.0/28", "kms_key": KEY, "tensorboard": False})
    reg, out = build(VertexTraining, "ft", args, ("custom_job_config",))
    pr = reg.one(VERTEX_PERSISTENT).inputs
    assert "network" not in pr
    attachment = reg.one(ATTACHMENT)
    assert attachment.inputs["connectionPreference"] == "ACCEPT_AUTOMATIC"
    subnet = reg.one(SUBNET).inputs
    assert subnet["ipCidrRange"] == "10.90.0.0/28" and subnet["network"] == HOST
    assert attachment.inputs["subnetworks"] == [reg.one(SUBNET).outputs["selfLink"]]
    assert pr["pscInterfaceConfig"] == {"networkAttachment": attachment.outputs["id"]}
    assert pr["encryptionSpec"] == {"kmsKeyName": KEY}
    agent = f"serviceAccount:service-{NUMBER}@gcp-sa-aiplatform.iam.gserviceaccount.com"
    kms = reg.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember").inputs
    assert kms == {"cryptoKeyId": KEY, "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter", "member": agent}
    psc = [r.inputs for r in reg.of_type(PROJECT_MEMBER) if r.inputs["member"] == agent]
    assert psc == [{"project": "mock-project", "role": "roles/compute.networkAdmin", "member": agent}]
    assert reg.one("gcp:projects/serviceIdentity:ServiceIdentity").inputs["service"] == "aiplatform.googleapis.com"
    assert not reg.of_type(TENSORBOARD)
    assert "roles/aiplatform.user" not in {r.inputs["role"] for r in reg.of_type(PROJECT_MEMBER)}
    assert yaml.safe_load(out["custom_job_config"])["pscInterfaceConfig"] == {"networkAttachment": attachment.outputs["id"]}


# ---- VertexServing -----------------------------------------------------------------------------

def test_latency_bound_serving_on_a_dedicated_psc_endpoint():
    args = base("inference", "g2-standard-8", 1, workload={"kind": "inference", "accelerators": 4, "latency_ms": 150},
                vertex={"max_replicas": 4, "autoscaling_target": 70})
    reg, out = build(VertexServing, "chat", args, ("endpoint_id", "resource_pool_id", "resource_pool_name", "service_account", "min_replicas"))
    pool = reg.one(VERTEX_POOL).inputs
    assert pool["name"] == "test-chat-pool" and pool["region"] == "us-central1"
    assert "labels" not in pool  # the API has none: the endpoint carries them
    ded = pool["dedicatedResources"]
    assert ded["machineSpec"] == {"machineType": "g2-standard-8", "acceleratorType": "NVIDIA_L4", "acceleratorCount": 1}
    assert (ded["minReplicaCount"], ded["maxReplicaCount"]) == (1, 4)
    assert ded["autoscalingMetricSpecs"] == [{"metricName": "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle", "target": 70}]
    ep = reg.one(VERTEX_ENDPOINT).inputs
    assert "network" not in ep
    assert ep["privateServiceConnectConfig"] == {
        "enablePrivateServiceConnect": True,
        "projectAllowlists": ["mock-project"],
        "pscAutomationConfigs": [{"projectId": "mock-project", "network": HOST}],
    }
    labels = ep["labels"]
    assert labels["ai-deployment-pool"] == "test-chat-pool" == out["resource_pool_id"]
    assert labels["ai-workload"] == "inference" and labels["ai-latency-ms"] == "150" and labels["ai-min-replicas"] == "1"
    assert labels["ai-accelerators"] == "4" and labels["ai-nodes"] == "4" and labels["ai-provisioning"] == "on-demand"
    act_as = reg.one("gcp:serviceaccount/iAMMember:IAMMember").inputs
    assert act_as["role"] == "roles/iam.serviceAccountAdmin" and act_as["member"].startswith(f"serviceAccount:service-{NUMBER}@gcp-sa-aiplatform")
    grant = reg.one("gcp:storage/bucketIAMMember:BucketIAMMember").inputs
    assert grant["role"] == "roles/storage.objectViewer"
    assert out["service_account"] == "chat-nodes@mock-project.iam.gserviceaccount.com" and out["min_replicas"] == 1
    assert out["resource_pool_name"].endswith("/test-chat-pool")


def test_private_endpoint_is_peered_by_project_number_and_addressed_inside_the_vpc():
    args = base("inference", "a3-highgpu-8g", 8, vertex={"endpoint": "private", "kms_key": KEY})
    reg, out = build(VertexServing, "llm", args, ("endpoint_id", "endpoint_address"))
    ep = reg.one(VERTEX_ENDPOINT).inputs
    assert ep["network"] == f"projects/{NUMBER}/global/networks/host" and "privateServiceConnectConfig" not in ep
    assert ep["encryptionSpec"] == {"kmsKeyName": KEY}
    assert out["endpoint_address"] == f"http://{out['endpoint_id']}.aiplatform.googleapis.com"


def test_program_builds_training_or_serving_from_the_workload():
    plan = make_plan("vertex-serve", ROOT)
    types = {r.type for r in plan.resources}
    assert "ai-clusters:index:VertexServing" in types and "ai-clusters:index:VertexTraining" not in types
    assert not any(r.type == "gcp:compute/network:Network" and "gpu" in r.name for r in plan.resources), "Vertex brings its own GPU networking"
    plan = make_plan("vertex-finetune", ROOT)
    assert "ai-clusters:index:VertexTraining" in {r.type for r in plan.resources}


def test_the_advisor_picks_a_machine_vertex_ai_offers_for_the_purpose():
    args = {"environment": "test", "region": "us-central1", "network": HOST, "workload": {"kind": "inference", "accelerators": 8, "model_params_b": 70}}
    reg, out = build(VertexServing, "auto", args, ("machine_type",))
    assert out["machine_type"] in catalog().vertex_facts("prediction").gpu_machine_types
    assert out["machine_type"] != "a3-megagpu-8g"  # the first fit on Compute Engine, not offered for online inference


# ---- bad input ---------------------------------------------------------------------------------

BAD = [
    (VertexTraining, base(vertex={"accelerator_type": "NVIDIA_L4"}),
     "vertex.acceleratorType: NVIDIA_L4 does not fit a3-highgpu-8g, which carries 8 x NVIDIA_H100_80GB"),
    (VertexServing, base("inference", "g2-standard-8", 1, vertex={"accelerator_count": 2}),
     "vertex.acceleratorCount: g2-standard-8 carries exactly 1 x NVIDIA_L4, not 2"),
    (VertexServing, base("inference", "g2-standard-8", 1, workload={"kind": "inference", "accelerators": 1, "latency_ms": 100}, vertex={"min_replicas": 0}),
     "vertex.minReplicas: latency-bound serving (workload.latencyMs 100) keeps at least one replica warm; 0 would scale to zero"),
    (VertexServing, base("inference", "g2-standard-8", 1, workload={"kind": "inference", "accelerators": 1, "latency_ms": 100}, provisioning={"model": "spot"}),
     "provisioning.model: latency-bound serving (workload.latencyMs 100) keeps on-demand capacity; Spot VMs can be taken away; use on-demand"),
    (VertexServing, base("inference", "a3-megagpu-8g", 8),
     "machineType: 'a3-megagpu-8g' is not a machine type Vertex AI offers for online inference"),
    (VertexTraining, base(provisioning={"model": "reservation", "reservation": "res-1"}),
     "provisioning.model: persistent resources cannot consume Compute Engine reservations"),
    (VertexTraining, base("pretraining", "a3-highgpu-8g", 16),
     "nodes: 2 replicas of a3-highgpu-8g for pretraining: Vertex AI training sets up GPUDirect only on a3-megagpu-8g, a3-ultragpu-8g, a4-highgpu-8g, a4x-highgpu-4g"),
    (VertexTraining, base(vertex={"kms_key": KEY.replace("us-central1", "us-east1")}),
     "vertex.kmsKey: the key is in us-east1; Vertex AI needs a key in the resource's region us-central1"),
    (VertexServing, base("inference", "g2-standard-8", 1, vertex={"boot_disk_gb": 200}),
     "vertex.bootDiskGb: applies to Vertex AI training, not serving"),
    (VertexTraining, base(vertex={"boot_disk_gb": 50}),
     "vertex.bootDiskGb: Vertex AI training takes 100-64000 GB boot disks, not 50"),
    (VertexTraining, base(vertex={"networking": "private-service-connect", "psc_interface_cidr": "10.0.0.0/28"}, network_ranges=["10.0.0.0/20"]),
     "vertex.pscInterfaceCidr: 10.0.0.0/28 overlaps 10.0.0.0/20, already used in the VPC"),
    (VertexTraining, base(vertex={"pools": [{"machine_type": "g2-standard-8"}]}),
     "vertex.pools[0].machineType: extra pools run on CPU machine types; g2-standard-8 carries 1 x NVIDIA_L4"),
    (VertexTraining, base("inference", "g2-standard-8", 1),
     "workload.kind: Vertex AI training is for training workloads, not inference"),
    (VertexServing, base("inference", "g2-standard-8", 1, network=None),
     "network: is required"),
]


@pytest.mark.parametrize("component, args, message", BAD, ids=[m.split(":")[0] + f"-{i}" for i, (_, _, m) in enumerate(BAD)])
def test_bad_combinations_end_in_one_clear_error_before_anything_is_registered(component, args, message):
    errors = []

    def program():
        try:
            component("bad", args)
        except SpecError as exc:
            errors.append(str(exc))

    reg = mocked(program)
    assert reg.all == [], "nothing is half-created"
    (error,) = errors
    assert error.startswith(f"{component.__name__} 'bad': ")
    assert message in error


def test_every_problem_is_named_at_once():
    args = base("inference", "a3-highgpu-8g", 8, workload={"kind": "inference", "accelerators": 8, "latency_ms": 50},
                vertex={"accelerator_type": "NVIDIA_B200", "min_replicas": 0, "tensorboard": True})
    with pytest.raises(SpecError) as err:
        VertexServing("bad", args)
    keys = [p.path for p in err.value.problems]
    assert keys == ["vertex.tensorboard", "vertex.acceleratorType", "vertex.minReplicas"]


# ---- the catalog's Vertex AI facts ------------------------------------------------------------

def test_vertex_facts_must_name_machines_with_a_vertex_accelerator():
    import yaml as _yaml
    from importlib import resources

    data = _yaml.safe_load(resources.files("ai_clusters.core.catalog").joinpath("data/catalog.yaml").read_text())
    bad = copy.deepcopy(data)
    bad["vertex"]["prediction"]["gpu_machine_types"].append("a3-edgegpu-8g")
    with pytest.raises(ValueError, match="a3-edgegpu-8g is not a GPU machine type of a family with a Vertex AI accelerator name"):
        CatalogData.model_validate(bad)
    bad = copy.deepcopy(data)
    bad["vertex"]["training"]["sources"].append("nowhere")
    with pytest.raises(ValueError, match="cites unknown sources"):
        CatalogData.model_validate(bad)


def test_n1_counts_follow_the_vertex_tables():
    cat = catalog()
    assert cat.vertex_machine("training", "n1-standard-32", "NVIDIA_TESLA_V100", 4).count == 4
    with pytest.raises(LookupError, match="n1-standard-32 takes 4, 8 x NVIDIA_TESLA_V100 for Vertex AI custom training, not 2"):
        cat.vertex_machine("training", "n1-standard-32", "NVIDIA_TESLA_V100", 2)
    with pytest.raises(LookupError, match="NVIDIA_TESLA_P100 does not attach to n1-standard-64"):
        cat.vertex_machine("training", "n1-standard-64", "NVIDIA_TESLA_P100", 4)


# ---- how the rules read these resources --------------------------------------------------------

def written(component, name: str, args: dict) -> dict:
    """The resources a component writes, by type (inputs as the engine receives them)."""
    reg, _ = build(component, name, args)
    return {r.type: r for r in reg.all if r.custom}


def test_accelerator_uses_read_the_resources_as_written():
    res = written(VertexTraining, "ft", base(machine="a3-megagpu-8g", accelerators=32, vertex={"min_replicas": 1, "max_replicas": 4}, nodes=2))
    (use,) = accelerator_uses(VERTEX_PERSISTENT, res[VERTEX_PERSISTENT].inputs)
    assert (use.family.id, use.gpu, use.gpus_per_node, use.nodes, use.min_nodes) == ("a3-mega", "nvidia-h100-mega-80gb", 8, 4, 1)
    assert use.labels["ai-workload"] == "finetuning"
    served = written(VertexServing, "svc", base("inference", "g2-standard-8", 3, vertex={"max_replicas": 3}))
    pool, endpoint = served[VERTEX_POOL].inputs, served[VERTEX_ENDPOINT].inputs
    (use,) = accelerator_uses(VERTEX_POOL, pool)
    assert (use.family.id, use.gpus_per_node, use.nodes, use.min_nodes, use.labels) == ("g2", 1, 3, 1, {})
    lent_pool, lent_endpoint = with_borrowed_labels([(VERTEX_POOL, pool), (VERTEX_ENDPOINT, endpoint)])
    assert lent_endpoint is endpoint and lent_pool["labels"] == endpoint["labels"]
    (use,) = accelerator_uses(VERTEX_POOL, lent_pool)
    assert use.labels["ai-cluster"] == "svc"
    assert resource_cost("urn", VERTEX_POOL, lent_pool, "us-central1").cluster == "svc"
    # a hand-written N1 pool names its GPU by the Vertex AI enum; cost and rules see one name
    n1 = {"dedicatedResources": {"machineSpec": {"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 2}, "minReplicaCount": 1}}
    (use,) = accelerator_uses(VERTEX_POOL, n1)
    assert (use.family.id, use.gpu, use.gpus_per_node) == ("n1-t4", "nvidia-tesla-t4", 2)


@pytest.fixture(scope="module")
def pack():
    with PolicyPackProcess(ROOT / "policies") as p:
        p.configure({})
        yield p


def analyze_stack(pack, resources) -> list:
    return [verdict(d) for d in pack.analyze_stack((r.urn, r.type, r.name, r.inputs, r.protect, r.parent) for r in resources)]


def analyze_each(pack, resources) -> list:
    return [verdict(d) for r in resources for d in pack.analyze(r.urn, r.type, r.name, r.inputs, r.protect)]


def with_inputs(r, **inputs):
    r = copy.deepcopy(r)
    r.inputs.update(inputs)
    return r


def test_the_pack_passes_what_the_components_write(pack):
    for component, name, args in (
        (VertexTraining, "ft", base()),
        (VertexServing, "svc", base("inference", "g2-standard-8", 1, workload={"kind": "inference", "accelerators": 1, "latency_ms": 100})),
    ):
        res = list(written(component, name, args).values())
        assert [v for v in analyze_each(pack, res) + analyze_stack(pack, res) if v.level == "mandatory"] == []


def test_the_pack_checks_a_pool_with_the_labels_of_its_endpoint(pack):
    res = written(VertexServing, "svc", base("inference", "a3-highgpu-8g", 8, workload={"kind": "inference", "accelerators": 8, "latency_ms": 100}))
    pool, endpoint = res[VERTEX_POOL], res[VERTEX_ENDPOINT]
    # per resource, the pool's workload is unknown, so nothing is reported there
    assert analyze_each(pack, [pool]) == []
    # no endpoint names the pool: its workload is undeclared
    (v,) = [v for v in analyze_stack(pack, [pool]) if v.policy == "workload-by-reference"]
    assert v.level == "mandatory" and v.message.startswith("workload-declared: AiDeploymentResourcePool svc-pool has no labels field")
    # the endpoint's labels are the pool's: tier and latency rules apply to it
    graphics = with_inputs(endpoint, labels={**endpoint.inputs["labels"], "ai-workload": "graphics"})
    graphics.inputs["labels"].pop("ai-latency-ms")
    msgs = [v.message for v in analyze_stack(pack, [pool, graphics]) if v.policy == "workload-by-reference"]
    assert msgs == ["tier-fits-workload: A3 High (a3-highgpu-8g) is not a tier Google Cloud recommends for graphics; fits: G4, G2, N1 + NVIDIA T4"]
    zero = with_inputs(pool, dedicatedResources={**pool.inputs["dedicatedResources"], "minReplicaCount": 0})
    msgs = [v.message for v in analyze_stack(pack, [zero, endpoint]) if v.policy == "workload-by-reference"]
    assert msgs == ["latency-bound-serving: serving with a 100 ms latency target scales to zero; keep at least one replica warm"]
    unlabelled = with_inputs(endpoint, labels={"ai-deployment-pool": endpoint.inputs["labels"]["ai-deployment-pool"]})
    msgs = [v.message for v in analyze_stack(pack, [pool, unlabelled]) if v.policy == "workload-by-reference"]
    assert msgs and msgs[0].startswith("workload-declared: a resource with accelerators must carry the workload labels")


def test_the_pack_checks_a_persistent_resource_on_its_own(pack):
    res = written(VertexTraining, "ft", base())
    pr = res[VERTEX_PERSISTENT]
    bare = with_inputs(pr, labels={"team": "x"})
    assert [v.policy for v in analyze_each(pack, [bare])] == ["workload-declared"]
    graphics = with_inputs(pr, labels={**pr.inputs["labels"], "ai-workload": "graphics"})
    assert "tier-fits-workload" in {v.policy for v in analyze_each(pack, [graphics])}


@pytest.mark.parametrize("stack", ["vertex-finetune", "vertex-serve"])
def test_example_stacks_plan_without_mandatory_violations(stack):
    plan = make_plan(stack, ROOT, policy_runner=run_policy_pack)
    assert plan.mandatory_failures == []
    assert plan.exit_code == 0
    body = plan.to_json()
    assert any(r["type"].startswith("gcp:vertex/") for r in body["resources"])
