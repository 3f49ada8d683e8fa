"""The Cluster Toolkit blueprint, checked structurally against the Toolkit's own module tree.

tests/data/cluster_toolkit_modules.json lists every module of the pinned Toolkit commit with the
variables it declares (and which of them are required) and its outputs (regenerate it with
tests/data/cluster_toolkit_modules.py). Every Slurm cluster of every reference stack is checked,
with a few variants: settings known, required inputs set, references resolved, ids within limits.
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

from ai_clusters.core.naming import SERVICE_ACCOUNT_ID_RE
from ai_clusters.slurm import rxdm
from ai_clusters.slurm.blueprint import EMBEDDED

from .conftest import ROOT
from .test_slurm import slurm_cluster, stack

TOOLKIT = json.loads((Path(__file__).parent / "data" / "cluster_toolkit_modules.json").read_text())
TOOLKIT_FILES = ["community/modules/scheduler/schedmd-slurm-gcp-v6-controller/etc/long-prolog-slurm.conf.tpl"]  # read in v1.95.0
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


def reference_clusters() -> list[tuple[str, str]]:
    """(stack, cluster) of every Slurm cluster of every reference stack."""
    out = []
    for path in sorted((ROOT / "stacks").glob("Pulumi.*.yaml")):
        stack_name = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for cl in yaml.safe_load(path.read_text())["config"].get("ai-clusters:clusters", []):
            if cl.get("path") == "slurm":
                out.append((stack_name, cl["name"]))
    return out


def of_stack(stack_name: str, cluster: str) -> dict:
    env = load_environment(read_stack_config(find_project(ROOT), stack_name))
    cl = next(c for c in env.clusters if c.name == cluster)
    return blueprint(cl, cl.plan, env.spec.network).doc


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
        *(pytest.param(lambda s=s, c=c: of_stack(s, c), id=f"{s}-{c}") for s, c in reference_clusters()),
        pytest.param(lambda: make(stack(slurm_cluster(nodes=2))), id="defaults"),
        pytest.param(lambda: make(stack(ultra, zones=("us-central1-b",))), id="a3ultra-sql-g2-flex"),
        pytest.param(lambda: make(stack(tcpx_on_its_image(), zones=("us-central1-a",))), id="a3high-own-image-munge"),
    ]


def tcpx_on_its_image() -> dict:
    return slurm_cluster(
        machineType="a3-highgpu-8g",
        storage={"filestore": {"mountPoint": "/home"}},
        slurm={"auth": "munge", "nodeSets": [{"name": "a3high", "staticNodes": 2, "imageName": "tcpx-slurm-1"}], "partitions": [{"name": "p", "nodeSets": ["a3high"]}]},
    )


def modules_of(doc: dict) -> dict[str, dict]:
    return {m["id"]: m for g in doc["deployment_groups"] for m in g["modules"]}


def expressions(value) -> list[str]:
    """The blueprint expressions gcluster reads in a value: `$(` not escaped by an odd number of backslashes."""
    found: list[str] = []

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str):
            for m in re.finditer(r"(\\*)\$\(", v):
                if len(m.group(1)) % 2 == 0:
                    found.append(v[m.end() : m.end() + 40])

    walk(value)
    return found


def references(value) -> list[str]:
    """Every `$(...)` expression in a settings value (a `$(` after an odd number of backslashes is escaped: text)."""
    if isinstance(value, dict):
        return [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    if not isinstance(value, str):
        return []
    return EXPRESSION.findall(re.sub(r"(?<!\\)((?:\\\\)*)\\\$\(", r"\1<escaped>", value))


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
def test_required_inputs_are_set_and_ids_fit_googles_limits(make_doc):
    """What gcluster create and terraform plan refuse: a required variable left unset, a service account id outside 6-30
    characters (the service-account module's id is DEPLOYMENT-NAME), a bad Slurm cluster name, a shell `$(` read as an expression."""
    doc = make_doc()
    bp_vars = doc["vars"]
    mods = modules_of(doc)
    for mid, module in mods.items():
        info = MODULES[module["source"]]
        supplied = {out for used in module.get("use", []) for out in MODULES[mods[used]["source"]]["outputs"]}
        missing = [v for v in info["required"] if v not in module["settings"] and v not in bp_vars and v not in supplied]
        assert not missing, f"{mid} ({module['source']}) leaves required variables unset: {missing}"
        for expr in expressions(module["settings"]):
            assert re.match(r"(vars|[A-Za-z][\w-]*)\.\w+|concat\(", expr), f"{mid}: $({expr}… is not an expression gcluster can read (escape shell $( as \\$()"
    name = bp_vars["deployment_name"]
    assert re.fullmatch(r"[a-z][-a-z0-9]*[a-z0-9]", name) and len(name) <= 63
    for module in mods.values():
        if module["source"] == "modules/project/service-account":
            account_id = f"{name}-{module['settings']['name']}"
            assert 6 <= len(account_id) <= 30 and SERVICE_ACCOUNT_ID_RE.match(account_id), account_id
        if module["source"].endswith("schedmd-slurm-gcp-v6-controller"):
            assert re.fullmatch(r"[a-z]([-a-z0-9]{0,19})", module["settings"]["slurm_cluster_name"])
        if module["source"] == "modules/packer/custom-image":
            family = module["settings"]["image_family"].replace("$(vars.deployment_name)", name)
            assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", family), family
    for value in bp_vars.values():
        assert value is not None, "gcluster refuses a variable without a value"


@pytest.mark.parametrize("make_doc", variants())
def test_node_lines_agree_with_the_vms_threads(make_doc):
    """slurm-gcp writes CPUs from the VM and ThreadsPerCore from node_conf: both must describe the same machine."""
    facts = catalog().data.slurm
    for module in modules_of(make_doc()).values():
        if module["source"] != "community/modules/compute/schedmd-slurm-gcp-v6-nodeset":
            continue
        s = module["settings"]
        assert "advanced_machine_features" in s, "never the module's default of one thread per core"
        threads = s["advanced_machine_features"]["threads_per_core"]
        conf = s.get("node_conf", {})
        if threads is not None:
            assert conf.get("ThreadsPerCore") == threads
        else:
            known = facts.node_conf_of(s["machine_type"])
            assert conf == (known.conf if known else {}), "the platform default, described as the Toolkit's examples do"


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
    packer = {m["settings"]["image_family"]: m for m in by_source.get("modules/packer/custom-image", [])}
    for n in nodesets:
        s = n["settings"]
        assert s["enable_public_ips"] is False and s["enable_shielded_vm"] is True
        # Secure Boot off only where the nodes load a module built with DKMS (A3 Mega's import helper, A3 High's driver)
        assert s["shielded_instance_config"]["enable_secure_boot"] is (s["machine_type"] not in ("a3-megagpu-8g", "a3-highgpu-8g"))
        image = s["instance_image"]
        if image.get("family") in packer:
            assert image["project"] == "$(vars.project_id)" and s["instance_image_custom"] is True, "the image its group builds"
        elif s.get("instance_image_custom"):
            assert image.get("name"), "an image the stack names"
        else:
            assert image["project"] == catalog().data.slurm.image_project
    assert controller["settings"]["enable_controller_public_ips"] is False
    (login,) = by_source["community/modules/scheduler/schedmd-slurm-gcp-v6-login"]
    assert login["settings"]["enable_login_public_ips"] is False
    for p in partitions:
        static = any(n["settings"]["node_count_static"] for n in nodesets if n["id"] in p["use"])
        assert not (static and p["settings"]["exclusive"]), "the partition module rejects exclusive with static nodes"


def test_the_a3_mega_image_is_built_before_the_cluster_and_booted_by_its_node_set():
    doc = example()
    groups = [g["group"] for g in doc["deployment_groups"]]
    assert groups == ["primary", "image-a3mega", "cluster"]
    (image,) = doc["deployment_groups"][1]["modules"]
    assert image["source"] == "modules/packer/custom-image" and image["kind"] == "packer"
    s = image["settings"]
    facts = catalog().data.slurm
    assert s["source_image_family"] == facts.default_image_family and s["source_image_project_id"] == [facts.image_project]
    assert s["machine_type"] == facts.image_build(catalog().family("a3-mega").gpudirect).machine_type
    assert set(image["use"]) == {"image_script_a3mega", "network"}
    mods = modules_of(doc)
    assert mods["a3mega_nodeset"]["settings"]["instance_image"] == {"family": s["image_family"], "project": "$(vars.project_id)"}
    script = mods["image_script_a3mega"]["settings"]["runners"][0]["content"]
    host = catalog().data.node_setup.host(catalog().family("a3-mega").gpudirect, "ubuntu")
    assert "gpudirect-tcpxo-apt main" in script and f"dkms build -m {host.dkms_fix.package}" in script
    assert host.aperture_udev_rule.replace("'", "'\"'\"'") in script and "update-initramfs -u -k all" in script
    assert "docker run" not in script and "step aperture-devices" not in script, "what needs the GPU machine waits for boot"
    assert "\\$(codename)" in script, "shell substitutions escaped for gcluster"


def test_node_sets_that_compile_kernel_modules_turn_secure_boot_off_and_keep_shielded_vm():
    mods = modules_of(example())
    high = modules_of(of_stack("slurm-a3high", "tcpx"))
    for settings in (mods["a3mega_nodeset"]["settings"], high["a3high_nodeset"]["settings"]):
        assert settings["enable_shielded_vm"] is True
        assert settings["shielded_instance_config"] == {"enable_secure_boot": False, "enable_vtpm": True, "enable_integrity_monitoring": True}
    for settings in (mods["debug_nodeset"]["settings"], mods["slurm_controller"]["settings"]):
        assert settings["shielded_instance_config"]["enable_secure_boot"] is True


def test_the_a3_high_image_group_takes_the_tcpx_kernel_credentials_as_variables():
    doc = of_stack("slurm-a3high", "tcpx")
    build = catalog().data.slurm.image_build(catalog().family("a3-high").gpudirect)
    assert {k: doc["vars"][k] for k in build.variables} == {k: "" for k in build.variables}, "supplied with --vars"
    mods = modules_of(doc)
    script = mods["image_script_a3high"]["settings"]["runners"][0]["content"]
    for var in build.variables:
        assert f"$(vars.{var})" in script
    assert "linux-gcp-tcpx" in script and "ansible-pull -U https://github.com/GoogleCloudPlatform/slurm-gcp -C 6.12.1" in script
    assert mods["image_script_a3high"]["settings"]["install_ansible"] is True
    image = mods["image_a3high"]["settings"]
    assert image["source_image_family"] == build.source_image.family and image["source_image_project_id"] == [build.source_image.project]
    assert mods["a3high_nodeset"]["settings"]["instance_image"]["family"] == image["image_family"]
    # the node set's own start-up then lights TCPX and the prolog starts RxDM per job
    assert "gpu_rxq_configuration.textproto" in mods["a3high_nodeset"]["settings"]["startup_script"]
    ctl = mods["slurm_controller"]["settings"]
    assert ctl["prolog_scripts"][0]["filename"] == rxdm.SCRIPT and "tcpgpudmarxd-dev" in ctl["prolog_scripts"][0]["content"]


def test_the_controller_gets_slurm_auth_the_rxdm_scripts_and_the_long_prolog_conf():
    facts = catalog().data.slurm
    ctl = modules_of(example())["slurm_controller"]["settings"]
    assert ctl["enable_slurm_auth"] is True
    assert ctl["slurm_conf_tpl"] == EMBEDDED + facts.long_prolog.conf_tpl
    assert facts.long_prolog.conf_tpl.startswith("community/modules/scheduler/schedmd-slurm-gcp-v6-controller/") and facts.long_prolog.conf_tpl in str(TOOLKIT_FILES)
    (prolog,) = ctl["prolog_scripts"]
    (epilog,) = ctl["epilog_scripts"]
    host = catalog().data.node_setup.host(catalog().family("a3-mega").gpudirect, "ubuntu")
    assert host.rxdm.image in prolog["content"] and "SLURM_JOB_NUM_NODES" in prolog["content"] and "docker rm -f" in epilog["content"]
    assert "enable_external_prolog_epilog" not in ctl, "slurm-gcp's own prolog_scripts: a failing RxDM start drains the node"
    ultra = modules_of(make(stack(slurm_cluster(machineType="a3-ultragpu-8g", zone="us-central1-b", provisioning={"model": "reservation", "reservation": "r"}, nodes=2), zones=("us-central1-b",))))
    assert "slurm_conf_tpl" not in ultra["slurm_controller"]["settings"] and "prolog_scripts" not in ultra["slurm_controller"]["settings"]
    munge = modules_of(make(stack(tcpx_on_its_image(), zones=("us-central1-a",))))
    assert munge["slurm_controller"]["settings"]["enable_slurm_auth"] is False


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
    assert "start RxDM per multi-node job" in head and "Group image-a3mega builds" in head
    cl, layout, env = layout_of(read_stack_config(find_project(ROOT), "slurm-a3high"))
    head = render(blueprint(cl, layout, env.spec.network)).split("---", 1)[0]
    assert "Group image-a3high builds" in head and "tcpx_kernel_login" in head
    assert "Until it has one" not in head, "the blueprint builds the image the component warns about"
