"""Regenerate tests/data/slurm_gcp_config.json from a Cluster Toolkit git checkout (once, not at test time).

    python tests/data/slurm_gcp_config.py /path/to/cluster-toolkit.git [REV]

Records the keys of every document the Toolkit's Terraform writes to the Slurm config bucket (the
cluster's config.yaml, one per node set, partition and login group) and the placeholders slurm-gcp's
conf.py fills into the slurm.conf and slurmdbd.conf templates, with the commit and its date.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).with_name("slurm_gcp_config.json")
CONTROLLER = "community/modules/scheduler/schedmd-slurm-gcp-v6-controller"


def git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout


def block(text: str, opener: str) -> str:
    """The text between the brace after `opener` and its matching brace."""
    start = text.index(opener) + len(opener)
    start = text.index("{", start - 1)
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i]
    raise ValueError(opener)


def function(source: str, name: str) -> str:
    """The text of a top-level Python function."""
    start = source.index(f"def {name}(")
    end = source.find("\ndef ", start + 1)
    return source[start : end if end > 0 else None]


def top_keys(body: str) -> list[str]:
    """Keys at the first level of an HCL object or a Python dict literal."""
    keys, depth = [], 0
    for line in body.splitlines():
        if depth == 0:
            m = re.match(r'\s*"?([A-Za-z_][A-Za-z0-9_]*)"?\s*[=:]', line)
            if m:
                keys.append(m.group(1))
        depth += line.count("{") + line.count("[") + line.count("(") - line.count("}") - line.count("]") - line.count(")")
    return keys


def main(repo: str, rev: str = "HEAD") -> None:
    commit, date = git(repo, "log", "-1", "--format=%H %cI", rev).split()
    show = lambda path: git(repo, "show", f"{rev}:{path}")  # noqa: E731
    files = show(f"{CONTROLLER}/modules/slurm_files/main.tf")
    partition_tf = show(f"{CONTROLLER}/partition.tf")
    login_tf = show("community/modules/internal/slurm-gcp/login/main.tf")
    partition_module = show("community/modules/compute/schedmd-slurm-gcp-v6-partition/main.tf")
    conf_py = show(f"{CONTROLLER}/modules/slurm_files/scripts/conf.py")
    slurm_conf = function(conf_py, "install_slurm_conf")
    dbd_conf = function(conf_py, "install_slurmdbd_conf")
    doc = {
        "source": "https://github.com/GoogleCloudPlatform/cluster-toolkit",
        "commit": commit,
        "commit_date": date,
        "read_on": "2026-11-23",
        "config_yaml": top_keys(block(files, "config = ")),
        "nodeset_config": sorted(set(top_keys(block(partition_tf, "nodesets = [for name, ns in local.nodeset_map : ")) + ["instance_properties"])),
        "partition_config": top_keys(block(partition_module, "partition = ")),
        "login_group_config": top_keys(block(login_tf, "\n  config = ")),
        "slurm_conf_placeholders": sorted(
            set(top_keys(block(slurm_conf, "conf_options = "))) | set(re.findall(r'conf_options\["(\w+)"\]', slurm_conf))
        ),
        "slurmdbd_conf_placeholders": sorted(set(top_keys(block(dbd_conf, "conf_options = "))) | set(re.findall(r'conf_options\["(\w+)"\]', dbd_conf))),
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{OUT} from {commit} ({date})")


if __name__ == "__main__":
    main(*sys.argv[1:])
