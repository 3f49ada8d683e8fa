"""One side of a diff: stacks planned offline by the code this process imports, written as JSON.

`ai-clusters diff` runs this file as a program for each side, with that side's own `components/`
importable as `ai_clusters` (PYTHONPATH), so the base revision is planned by the base's code and the
work tree by the work tree's. It therefore uses only the offline plan's public surface, which every
revision with `ai-clusters plan` has: `make_plan`, `run_policy_pack`, `Plan.to_json()` and the plan's
`cost` and `policy`. Nothing else from this package is imported here.

    python snapshot.py --project-dir DIR --output FILE [--no-policy] STACK...

FILE gets {"code": <the ai_clusters it ran>, "stacks": {STACK: {"snapshot": {...}} | {"absent": true}
| {"error": "...", "kind": "input" | "spec" | "policy" | "crash"}}}.
"""

import argparse
import dataclasses
import json
import sys
import traceback
from pathlib import Path
from typing import Any


def snapshot(plan: Any) -> dict[str, Any]:
    """The plan's JSON with what a diff needs besides: which resources are custom, the unpriced parts of
    the cost (stack and clusters, whatever fields the cost carries) and the policy pack."""
    doc = plan.to_json()
    for entry, registration in zip(doc.get("resources") or [], plan.resources):
        entry.setdefault("custom", bool(registration.custom))
    cost = doc.setdefault("cost", {})
    clusters = cost.setdefault("by_cluster", {})
    for name, cluster in (getattr(plan.cost, "by_cluster", None) or {}).items():
        fields = dataclasses.asdict(cluster) if dataclasses.is_dataclass(cluster) else dict(vars(cluster))
        entry = clusters.setdefault(name, {})
        for key, value in fields.items():
            entry.setdefault(key, value)
    doc.setdefault("policy_pack", plan.policy_pack)
    return doc


def plan_stacks(project_dir: Path, stacks: list[str], policy: bool) -> dict[str, Any]:
    """Plan each stack; a stack without a file is absent, a failure is recorded, never raised."""
    import ai_clusters
    from ai_clusters.tooling.plan import PlanInputError, find_project, make_plan

    try:
        from ai_clusters.tooling.plan.policy import PolicyPackError, run_policy_pack
    except ImportError:  # a revision before the policy pack: plan without it
        PolicyPackError, run_policy_pack, policy = RuntimeError, None, False
    from ai_clusters.core.spec import SpecError

    out: dict[str, Any] = {"code": str(Path(ai_clusters.__file__).parent), "stacks": {}}
    project = find_project(project_dir)
    for stack in stacks:
        if not project.stack_file(stack).is_file():
            out["stacks"][stack] = {"absent": True}
            continue
        try:
            plan = make_plan(stack, project_dir, policy_runner=run_policy_pack if policy else None)
            out["stacks"][stack] = {"snapshot": snapshot(plan)}
        except PlanInputError as exc:
            out["stacks"][stack] = {"error": str(exc), "kind": "input"}
        except SpecError as exc:
            out["stacks"][stack] = {"error": str(exc), "kind": "spec"}
        except PolicyPackError as exc:
            out["stacks"][stack] = {"error": f"the policy pack could not run: {exc}", "kind": "policy"}
        except Exception as exc:  # noqa: BLE001 - the other side is still worth reporting
            tail = "".join(traceback.format_exception(exc)[-3:]).strip()
            out["stacks"][stack] = {"error": f"{type(exc).__name__}: {exc}\n{tail}", "kind": "crash"}
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--no-policy", action="store_true")
    parser.add_argument("stacks", nargs="+")
    args = parser.parse_args(argv)
    result = plan_stacks(args.project_dir, args.stacks, policy=not args.no_policy)
    args.output.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
