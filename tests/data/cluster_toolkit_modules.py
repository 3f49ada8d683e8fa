"""Regenerate tests/data/cluster_toolkit_modules.json from a Cluster Toolkit git checkout.

Run once when the pinned Cluster Toolkit release moves, never at test time:

    python tests/data/cluster_toolkit_modules.py /path/to/cluster-toolkit.git [REV]

It lists every module a blueprint may name as `source` (folders at modules/<kind>/<name> and
community/modules/<kind>/<name> holding Terraform or Packer files) with the variables and outputs
its top-level files declare, and records the commit and its date.
"""

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

VARIABLE = re.compile(r'^variable\s+"([^"]+)"', re.M)
OUTPUT = re.compile(r'^output\s+"([^"]+)"', re.M)
OUT = Path(__file__).with_name("cluster_toolkit_modules.json")


def git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout


def module_dir(path: str) -> str | None:
    parts = path.split("/")
    depth = 3 if parts[0] == "modules" else 4 if parts[:2] == ["community", "modules"] else 0
    if not depth or len(parts) != depth + 1:
        return None  # not a top-level file of a module folder
    return "/".join(parts[:depth]) if parts[-1].endswith((".tf", ".pkr.hcl")) else None


def main(repo: str, rev: str = "HEAD") -> None:
    commit, date = git(repo, "log", "-1", "--format=%H %cI", rev).split()
    files = git(repo, "ls-tree", "-r", "--name-only", rev, "modules", "community/modules").split()
    found: dict[str, dict[str, set]] = defaultdict(lambda: {"variables": set(), "outputs": set()})
    for path in files:
        mod = module_dir(path)
        if mod is None:
            continue
        text = git(repo, "show", f"{rev}:{path}")
        found[mod]["variables"].update(VARIABLE.findall(text))
        found[mod]["outputs"].update(OUTPUT.findall(text))
    doc = {
        "source": "https://github.com/GoogleCloudPlatform/cluster-toolkit",
        "commit": commit,
        "commit_date": date,
        "release": git(repo, "describe", "--tags", rev).strip(),
        "read_on": "2026-11-23",
        "modules": {
            name: {"variables": sorted(v["variables"]), "outputs": sorted(v["outputs"]), "internal": "/internal/" in f"/{name}/"}
            for name, v in sorted(found.items())
        },
    }
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    print(f"{len(doc['modules'])} modules from {commit} ({date}) -> {OUT}")


if __name__ == "__main__":
    main(*sys.argv[1:])
