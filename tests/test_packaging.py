"""The distribution installs ai_clusters (the components/ folder) and nothing else."""

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT


def test_every_subpackage_of_components_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert cfg["package-dir"] == {"ai_clusters": "components"}
    listed = set(cfg["packages"])
    found = {
        "ai_clusters" + "".join(f".{part}" for part in init.parent.relative_to(ROOT / "components").parts)
        for init in (ROOT / "components").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    data_only = {name for name in listed - found if not list((ROOT / "components" / Path(*name.split(".")[1:])).glob("*.py"))}
    assert found | data_only == listed, "a wheel would leave out " + ", ".join(sorted(found - listed))
    # folders of data only (the catalog's data/) are listed as packages, as setuptools asks, with their files
    assert data_only and data_only <= set(cfg["package-data"]), "a data folder is a package with its package-data"
    assert all(name.startswith("ai_clusters") for name in listed), "no other top-level package is installed"


PUBLIC = ["ClusterNetwork", "ClusterStorage", "GpuVmCluster", "GkeCluster", "SlurmCluster", "VertexTraining", "VertexServing", "TpuVmCluster"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built from a copy of what the distribution is made of (pip wheel; registries only)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "components", src / "components", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--verbose", "--wheel-dir", str(out), str(src)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (out / "build.log").write_text(done.stdout + done.stderr)
    (found,) = out.glob("ai_clusters-*.whl")
    return found


def test_the_build_warns_about_nothing_in_pyproject(wheel):
    log = (wheel.parent / "build.log").read_text()
    warnings = [line.strip() for line in log.splitlines() if "Warning" in line or "deprecated" in line.lower()]
    assert warnings == [], warnings


def test_the_wheel_installs_only_ai_clusters(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"ai_clusters", wheel.name.split("-py3")[0] + ".dist-info"}
    assert "ai_clusters/core/catalog/data/catalog.yaml" in names
    assert "ai_clusters/tooling/diff/data/replacements.yaml" in names, "the diff's replacement rules ship with it"
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "ai-clusters = ai_clusters.tooling.cli:main" in entry_points


def test_the_installed_wheel_exports_every_component_at_the_top(wheel, tmp_path):
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert {p.name for p in site.iterdir() if not p.name.endswith(".dist-info")} - {"bin"} == {"ai_clusters"}
    script = f"""
import importlib.util, inspect, json, ai_clusters
from ai_clusters import {", ".join(PUBLIC)}
import pulumi
comps = [{", ".join(PUBLIC)}]
print(json.dumps({{
    "file": ai_clusters.__file__,
    "components": all(issubclass(c, pulumi.ComponentResource) for c in comps),
    "args": [inspect.get_annotations(c.__init__)["args"].__name__ for c in comps],
    "exported": [hasattr(ai_clusters, c.__name__ + "Args") for c in comps],
    "others": [n for n in ("components", "policies", "tests") if importlib.util.find_spec(n) is not None],
}}))
"""
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["file"].startswith(str(site)), "imported the working tree, not the wheel"
    assert got["components"] and got["args"] == [f"{c}Args" for c in PUBLIC]
    assert all(got["exported"]), "every component's args class is importable from ai_clusters"
    assert got["others"] == []
