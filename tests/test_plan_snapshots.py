"""The guard of every refactoring: each reference stack plans exactly as its checked-in snapshot says.

A snapshot holds what `ai-clusters plan --format json` shows (every resource with its inputs,
protect and retainOnDelete, the cost, every policy verdict) plus the stack's outputs (validation
jobs, blueprint paths, NIC names …). A difference fails with the first differing paths. When a change
is deliberate, refresh the snapshots and explain the difference in the commit that changes them:

    .venv/bin/python -m pytest tests/test_plan_snapshots.py --update-snapshots
"""

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from ai_clusters.tooling.plan import json_safe, make_plan
from ai_clusters.tooling.plan.policy import run_policy_pack

from .conftest import ROOT

SNAPSHOTS = ROOT / "tests" / "data" / "plans"

# The reference stacks this project ships, named: a stack a user adds to stacks/ is not a test case.
REFERENCE_STACKS = (
    "ce-a3high-train",
    "ce-a3mega-train",
    "ce-a3ultra-rdma",
    "ce-g2-serve",
    "dev",
    "gke-a3mega-train",
    "gke-l4-serve",
    "gke-tpu-v6e",
    "prod",
    "slurm-a3high",
    "slurm-a3mega",
    "staging",
    "tpu-multislice",
    "tpu-serve",
    "tpu-train",
    "vertex-finetune",
    "vertex-serve",
)


def snapshot_of(stack: str) -> dict[str, Any]:
    """The plan of `stack` as the snapshot records it."""
    plan = make_plan(stack, ROOT, policy_runner=run_policy_pack)
    return {**plan.to_json(), "outputs": json_safe(plan.run.exports), "exitCode": plan.exit_code}


def differences(old: Any, new: Any, path: str = "") -> Iterator[str]:
    """Every path at which two JSON documents differ (lists of resources are keyed by URN)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            where = f"{path}.{key}" if path else str(key)
            if key not in old:
                yield f"{where}: added {json.dumps(new[key])[:200]}"
            elif key not in new:
                yield f"{where}: removed"
            else:
                yield from differences(old[key], new[key], where)
    elif isinstance(old, list) and isinstance(new, list):
        if all(isinstance(x, dict) and "urn" in x and "inputs" in x for x in [*old, *new]):
            yield from differences({x["urn"]: x for x in old}, {x["urn"]: x for x in new}, path)
        elif len(old) != len(new):
            yield f"{path}: {len(old)} items -> {len(new)}: {json.dumps(new)[:300]}"
        else:
            for i, (a, b) in enumerate(zip(old, new)):
                yield from differences(a, b, f"{path}[{i}]")
    elif old != new:
        yield f"{path}: {json.dumps(old)[:200]} -> {json.dumps(new)[:200]}"


def test_the_reference_stacks_are_the_stacks_shipped():
    shipped = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))
    assert sorted(REFERENCE_STACKS) == shipped, "name a new reference stack in REFERENCE_STACKS (and snapshot it)"


@pytest.mark.parametrize("stack", REFERENCE_STACKS)
def test_the_stack_plans_exactly_as_its_snapshot(stack, request):
    current = snapshot_of(stack)
    path = SNAPSHOTS / f"{stack}.json"
    if request.config.getoption("--update-snapshots"):
        path.write_text(json.dumps(current, indent=1, sort_keys=False) + "\n")
        return
    assert path.is_file(), f"no snapshot of {stack}: run with --update-snapshots"
    recorded = json.loads(path.read_text())
    found = list(differences(recorded, json.loads(json.dumps(current))))
    assert not found, f"{stack} plans differently from its snapshot ({len(found)} differences):\n" + "\n".join(found[:40])
    assert current["exitCode"] == 0, f"{stack} has mandatory violations: {current['policy']}"
