"""Regenerate tests/data/cluster_toolkit_modules.json from a Cluster Toolkit git checkout.

Run once when the pinned Cluster Toolkit release moves, never at test time:

    python tests/data/cluster_toolkit_modules.py /path/to/cluster-toolkit.git [REV]

It lists every module a blueprint may name as `source` (folders at modules/<kind>/<name> and
community/modules/<kind>/<name> holding Terraform or Packer files) with the variables and outputs
its top-level files declare, which variables are required (declared without a default), and records
the commit and its date.
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


def blocks(text: str, kind: str) -> dict[str, str]:
    """The bodies of the top-level `KIND "NAME" { ... }` blocks of an HCL file, by name (strings, comments and
    heredocs skipped while matching braces)."""
    out: dict[str, str] = {}
    for m in re.finditer(rf'^{kind}\s+"([^"]+)"\s*\{{', text, re.M):
        i, depth = m.end(), 1
        while depth and i < len(text):
            c = text[i]
            if c == '"':
                i += 1
                while i < len(text) and text[i] != '"':
                    i += 2 if text[i] == "\\" else 1
            elif c == "#" or text.startswith("//", i):
                i = text.find("\n", i)
            elif text.startswith("/*", i):
                i = text.find("*/", i) + 1
            elif text.startswith("<<", i):
                h = re.match(r"<<-?(\w+)", text[i:])
                if h:
                    end = re.search(rf"^\s*{h.group(1)}\s*$", text[i:], re.M)
                    i += end.end() if end else len(text)
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            i += 1
        out[m.group(1)] = text[m.end() : i - 1]
    return out


def has_default(body: str) -> bool:
    """Whether a variable block's body (its nested blocks, strings and heredocs aside) sets `default`."""
    body = re.sub(r"<<-?(\w+)\n.*?^\s*\1\s*$", '""', body, flags=re.S | re.M)  # heredocs
    body = re.sub(r'"(?:[^"\\]|\\.)*"', '""', body)  # strings
    depth = 0
    for line in body.splitlines():
        if depth == 0 and re.match(r"\s*default\s*=", line):
            return True
        depth += line.count("{") + line.count("(") + line.count("[") - line.count("}") - line.count(")") - line.count("]")
    return False


def module_dir(path: str) -> str | None:
    parts = path.split("/")
    depth = 3 if parts[0] == "modules" else 4 if parts[:2] == ["community", "modules"] else 0
    if not depth or len(parts) != depth + 1:
        return None  # not a top-level file of a module folder
    return "/".join(parts[:depth]) if parts[-1].endswith((".tf", ".pkr.hcl")) else None


def main(repo: str, rev: str = "HEAD") -> None:
    commit, date = git(repo, "log", "-1", "--format=%H %cI", rev).split()
    files = git(repo, "ls-tree", "-r", "--name-only", rev, "modules", "community/modules").split()
    found: dict[str, dict[str, set]] = defaultdict(lambda: {"variables": set(), "outputs": set(), "required": set()})
    for path in files:
        mod = module_dir(path)
        if mod is None:
            continue
        text = git(repo, "show", f"{rev}:{path}")
        found[mod]["variables"].update(VARIABLE.findall(text))
        found[mod]["outputs"].update(OUTPUT.findall(text))
        found[mod]["required"].update(name for name, body in blocks(text, "variable").items() if not has_default(body))
    doc = {
        "source": "https://github.com/GoogleCloudPlatform/cluster-toolkit",
        "commit": commit,
        "commit_date": date,
        "release": git(repo, "describe", "--tags", rev).strip(),
        "read_on": "2026-12-04",
        "modules": {
            name: {
                "variables": sorted(v["variables"]),
                "required": sorted(v["required"]),
                "outputs": sorted(v["outputs"]),
                "internal": "/internal/" in f"/{name}/",
            }
            for name, v in sorted(found.items())
        },
    }
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    print(f"{len(doc['modules'])} modules from {commit} ({date}) -> {OUT}")


if __name__ == "__main__":
    main(*sys.argv[1:])
