"""The distribution installs ai_clusters (the components/ folder) and nothing else."""

import tomllib

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
    assert found == listed, "a wheel would leave out " + ", ".join(sorted(found - listed))
    assert all(name.startswith("ai_clusters") for name in listed), "no other top-level package is installed"
