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

from .conftest import REFERENCE_STACKS, ROOT

SNAPSHOTS = ROOT / "tests" / "data" / "plans"


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


def test_every_reference_stack_is_shipped_with_its_snapshot():
    # Only the named stacks are checked: a stack file a user adds to stacks/ is theirs, not a test case.
    for stack in REFERENCE_STACKS:
        assert (ROOT / "stacks" / f"Pulumi.{stack}.yaml").is_file(), stack
        assert (SNAPSHOTS / f"{stack}.json").is_file(), f"snapshot {stack}: pytest tests/test_plan_snapshots.py --update-snapshots"


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
