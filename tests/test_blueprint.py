"""The Cluster Toolkit blueprint, checked structurally against the Toolkit's own module tree.

tests/data/cluster_toolkit_modules.json lists every module of the pinned Toolkit commit with the
variables and outputs it declares (regenerate it with tests/data/cluster_toolkit_modules.py).
"""

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ai_clusters.slurm.blueprint import blueprint, render
from ai_clusters.core.catalog import catalog
from ai_clusters.tooling.cli import app
from ai_clusters.tooling.plan.engine import find_project, read_stack_config
from ai_clusters.slurm.plan import resolve_layout
from ai_clusters.core.spec import load_environment

from .conftest import ROOT
from .test_slurm import slurm_cluster, stack

TOOLKIT = json.loads((Path(__file__).parent / "data" / "cluster_toolkit_modules.json").read_text())
MODULES = TOOLKIT["modules"]
REFERENCE = re.compile(r"(?<![\w.\"])([A-Za-z][\w-]*)\.([A-Za-z_]\w*)")
EXPRESSION = re.compile(r"\$\((.*?)\)(?!\))", re.S)


def layout_of(cfg: dict):
    env = load_environment(cfg)
    cl = env.clusters[0]
    problems: list = []
    layout = resolve_layout(cl, lambda k, m: problems.append((k, m)))
    assert layout is not None, problems
    return cl, layout, env


def make(cfg: dict) -> dict:
    cl, layout, env = layout_of(cfg)
    return blueprint(cl, layout, env.spec.network).doc


def example() -> dict:
    project = find_project(ROOT)
    return make(read_stack_config(project, "slurm-a3mega"))


def variants() -> list:
    ultra = slurm_cluster(
        workload={"kind": "finetuning", "accelerators": 52},  # every GPU node set at its largest: 2 x 8 + 2 x 2 + 4 x 8
        machineType="a3-ultragpu-8g",
        zone="us-central1-b",
        provisioning={"model": "reservation", "reservation": "ultra"},
        storage={"filestore": {"mountPoint": "/home"}, "parallelstore": {}, "bucket": {"softDeleteDays": 0}},
        slurm={
            "accounting": {"passwordSecret": "db"},
            "nodeSets": [
                {"name": "ultra", "staticNodes": 2},
                {"name": "eval", "machineType": "g2-standard-24", "dynamicNodes": 2, "workload": "inference"},
                {"name": "flex", "machineType": "a3-megagpu-8g", "dynamicNodes": 4, "provisioning": {"model": "flex-start", "maxRunHours": 12}},
            ],
            "partitions": [
                {"name": "train", "nodeSets": ["ultra"], "default": True},
                {"name": "eval", "nodeSets": ["eval"]},
                {"name": "burst-flex", "nodeSets": ["flex"]},
            ],
        },
    )
    return [
        pytest.param(example, id="example-a3mega"),
        pytest.param(lambda: make(stack(slurm_cluster(nodes=2))), id="defaults"),
        pytest.param(lambda: make(stack(ultra, zones=("us-central1-b",))), id="a3ultra-sql-g2-flex"),
    ]


def references(value) -> list[str]:
    """Every `$(...)` expression in a settings value."""
    if isinstance(value, dict):
        return [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return EXPRESSION.findall(value) if isinstance(value, str) else []


def test_the_module_list_is_pinned_to_a_commit_and_date():
    assert re.fullmatch(r"[0-9a-f]{40}", TOOLKIT["commit"]) and TOOLKIT["commit_date"].startswith("2026-")
    assert TOOLKIT["commit"] == catalog().data.slurm.toolkit_commit, "the blueprint names the release the modules were read from"
    assert "community/modules/scheduler/schedmd-slurm-gcp-v6-controller" in MODULES


@pytest.mark.parametrize("make_doc", variants())
def test_every_source_use_setting_and_reference_resolves(make_doc):
    doc = make_doc()
    assert set(doc) == {"blueprint_name", "vars", "deployment_groups"}
    assert {"project_id", "deployment_name", "region", "zone"} <= set(doc["vars"])
    defined: dict[str, str] = {}
    for group in doc["deployment_groups"]:
        assert set(group) == {"group", "modules"}
        for module in group["modules"]:
            mid, source = module["id"], module["source"]
            assert re.fullmatch(r"[a-zA-Z][\w-]*", mid) and mid not in defined, mid
            assert source in MODULES, f"{mid}: {source} is not a Cluster Toolkit module"
            assert not MODULES[source]["internal"], f"{mid}: {source} is internal"
            for used in module.get("use", []):
                assert used in defined, f"{mid} uses {used}, which is not defined before it"
            declared = set(MODULES[source]["variables"])
            unknown = set(module["settings"]) - declared
            assert not unknown, f"{mid} ({source}) sets undeclared variables {sorted(unknown)}"
            for expr in references(module["settings"]):
                for target, attr in REFERENCE.findall(expr):
                    if target == "vars":
                        assert attr in doc["vars"], f"{mid}: $(vars.{attr}) is not a blueprint variable"
                    else:
                        assert target in defined, f"{mid}: {target}.{attr} names no module defined before it"
                        assert attr in MODULES[defined[target]]["outputs"], f"{mid}: {target} ({defined[target]}) has no output {attr}"
            defined[mid] = source


@pytest.mark.parametrize("make_doc", variants())
def test_the_cluster_is_wired_and_private(make_doc):
    doc = make_doc()
    modules = [m for g in doc["deployment_groups"] for m in g["modules"]]
    by_source: dict[str, list] = {}
    for m in modules:
        by_source.setdefault(m["source"], []).append(m)
    (controller,) = by_source["community/modules/scheduler/schedmd-slurm-gcp-v6-controller"]
    partitions = by_source["community/modules/compute/schedmd-slurm-gcp-v6-partition"]
    nodesets = by_source["community/modules/compute/schedmd-slurm-gcp-v6-nodeset"]
    assert {p["id"] for p in partitions} <= set(controller["use"])
    assert "slurm_login" in controller["use"]
    assert {n["id"] for n in nodesets} == {u for p in partitions for u in p["use"]}
    assert sum(p["settings"]["is_default"] for p in partitions) == 1
    for n in nodesets:
        s = n["settings"]
        assert s["enable_public_ips"] is False and s["enable_shielded_vm"] is True and s["shielded_instance_config"]["enable_secure_boot"]
        assert s["instance_image"]["project"] == catalog().data.slurm.image_project
    assert controller["settings"]["enable_controller_public_ips"] is False
    (login,) = by_source["community/modules/scheduler/schedmd-slurm-gcp-v6-login"]
    assert login["settings"]["enable_login_public_ips"] is False
    for p in partitions:
        static = any(n["settings"]["node_count_static"] for n in nodesets if n["id"] in p["use"])
        assert not (static and p["settings"]["exclusive"]), "the partition module rejects exclusive with static nodes"


def test_the_example_blueprint_describes_the_example_cluster():
    doc = example()
    mods = {m["id"]: m for g in doc["deployment_groups"] for m in g["modules"]}
    a3 = mods["a3mega_nodeset"]
    assert a3["settings"]["machine_type"] == "a3-megagpu-8g" and a3["settings"]["node_count_static"] == 8
    assert a3["settings"]["reservation_name"] == "a3mega-llm" and "gpunets_a3mega" in a3["use"]
    gpunets = mods["gpunets_a3mega"]["settings"]
    fam = catalog().family("a3-mega")
    assert gpunets["network_count"] == fam.network.gpu_nics and gpunets["mtu"] == fam.network.gpu_mtu
    debug = mods["debug_nodeset"]["settings"]
    assert debug["machine_type"] == "n2-standard-8" and debug["node_count_dynamic_max"] == 4 and debug["enable_spot_vm"] is True
    assert mods["homefs"]["settings"]["local_mount"] == "/home" and mods["lustre"]["settings"]["local_mount"] == "/lustre"
    assert mods["a3mega_partition"]["settings"]["partition_conf"]["OverSubscribe"] == "EXCLUSIVE"
    assert mods["slurm_controller"]["settings"]["slurm_cluster_name"] == "llm"
    assert doc["vars"]["project_id"] == "acme-ml-research" and doc["vars"]["zone"] == "us-central1-a"


def test_rdma_families_get_their_roce_network_and_nic_expression():
    cl = slurm_cluster(machineType="a3-ultragpu-8g", zone="us-central1-b", provisioning={"model": "reservation", "reservation": "r"}, nodes=2)
    doc = make(stack(cl, zones=("us-central1-b",)))
    mods = {m["id"]: m for g in doc["deployment_groups"] for m in g["modules"]}
    rdma = mods["rdma_a3ultra"]["settings"]
    assert rdma["network_profile"].endswith("/global/networkProfiles/$(vars.zone)-vpc-roce")
    assert rdma["subnetworks_template"]["count"] == catalog().family("a3-ultra").network.gpu_nics
    nics = mods["a3ultra_nodeset"]["settings"]["additional_networks"]
    assert "gvnic1_a3ultra.subnetwork_self_link" in nics and "rdma_a3ultra.subnetwork_interfaces" in nics


def test_the_rendered_yaml_round_trips_and_names_its_toolkit_release():
    cl, layout, env = layout_of(stack(slurm_cluster(nodes=2)))
    bp = blueprint(cl, layout, env.spec.network)
    text = render(bp)
    assert text.startswith("# Written by `ai-clusters blueprint`.")
    assert catalog().data.slurm.toolkit_release in text.split("---", 1)[0]
    assert yaml.safe_load(text) == bp.doc


def test_the_command_writes_the_blueprint(tmp_path):
    project = tmp_path / "proj"
    (project / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copy(ROOT / "stacks" / "Pulumi.slurm-a3mega.yaml", project / "stacks")
    shutil.copy(ROOT / "stacks" / "Pulumi.dev.yaml", project / "stacks")
    runner = CliRunner()
    result = runner.invoke(app, ["blueprint", "--stack", "slurm-a3mega", "--cluster", "llm", "--project-dir", str(project)])
    assert result.exit_code == 0, result.output
    written = project / "blueprints" / "slurm-a3mega-llm.yaml"
    assert yaml.safe_load(written.read_text())["blueprint_name"] == "research-llm"
    out = runner.invoke(app, ["blueprint", "-s", "slurm-a3mega", "-c", "llm", "--project-dir", str(project), "-o", "-"])
    assert out.exit_code == 0 and yaml.safe_load(out.stdout)["vars"]["zone"] == "us-central1-a"
    wrong = runner.invoke(app, ["blueprint", "-s", "dev", "-c", "l4-serve", "--project-dir", str(project)])
    assert wrong.exit_code == 2 and "blueprints are for slurm clusters" in " ".join(wrong.output.split())
    missing = runner.invoke(app, ["blueprint", "-s", "slurm-a3mega", "-c", "nope", "--project-dir", str(project)])
    assert missing.exit_code == 2 and "has no cluster 'nope'" in " ".join(missing.output.split())


def test_the_notes_say_what_the_public_images_may_not_do():
    cl, layout, env = layout_of(read_stack_config(find_project(ROOT), "slurm-a3mega"))
    head = render(blueprint(cl, layout, env.spec.network)).split("---", 1)[0]
    assert "signed Lustre kernel modules" in head, "Lustre with Secure Boot on the public images"
    assert "TCPXO RxDM" in head, "the GPUDirect userspace is not in the public images"
