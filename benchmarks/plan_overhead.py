"""How much the offline plan costs over Pulumi itself, measured side by side in one run.

1. The plan of the largest stack: spec checks, the real program under mocks, the cost estimate.
2. The floor: what Pulumi itself costs for the same program shape, replayed straight into Pulumi under
   the same mocks without our components, specs or catalog: every resource (types, names, inputs,
   parents, options) through its own provider SDK class (pulumi_gcp, pulumi_kubernetes) with the inputs
   it received, waiting on the same resources it depended on, every component registering the same
   outputs and the stack exporting the same values. So the floor pays what the SDKs and the dependency
   graph cost, and the difference is ours (specs, catalog, components' own work and glue).
Both sides run with the cyclic garbage collector paused, as the offline plan runs (it was more than half
of both sides' time before, and hid the difference). Prints both, the ratio (target: at most 1.15), and
the time per resource of a generated 1,024-node Compute Engine cluster.

    .venv/bin/python benchmarks/plan_overhead.py [--stack prod] [--repeat 5]
"""

import argparse
from dataclasses import dataclass
import gc
import importlib
import json
import re
import statistics
import sys
import time
from pathlib import Path

import pulumi

from ai_clusters.core.cost import stack_cost
from ai_clusters.tooling.plan.engine import ProgramRun, find_project, read_stack_config, run_mocked, run_program
from ai_clusters.tooling.plan.mocks import Registration
from ai_clusters.core.spec import load_environment

ROOT = Path(__file__).resolve().parent.parent


def largest_stack() -> str:
    project = find_project(ROOT)
    sizes = {}
    for stack in project.stacks():
        config = read_stack_config(project, stack)
        sizes[stack] = len(run_program(project, stack, config).registrations)
    return max(sizes, key=sizes.get)


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds, and the CPU seconds of this process (all its threads): the second is what a shared,
    busy machine disturbs least."""

    wall: float
    cpu: float


def plan_once(stack: str) -> tuple[Timing, ProgramRun]:
    project = find_project(ROOT)
    gc.disable()  # each side's garbage is collected after it, untimed (see main)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        config = read_stack_config(project, stack)
        env = load_environment(config)
        run = run_program(project, stack, config)
        stack_cost(((r.urn, r.type, r.inputs) for r in run.registrations if r.custom), env.spec.region)
        return Timing(time.perf_counter() - start, time.process_time() - cpu), run
    finally:
        gc.enable()


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _sdk_class(type_token: str):
    """pulumi_gcp.compute.Instance for gcp:compute/instance:Instance (None when not found)."""
    pkg, mod, name = type_token.split(":")
    module_name = {"gcp": "pulumi_gcp", "kubernetes": "pulumi_kubernetes"}.get(pkg)
    if module_name is None:
        return None
    path = mod.split("/")[0] if pkg == "gcp" else mod.replace("/", ".")
    try:
        module = importlib.import_module(f"{module_name}.{path}")
    except ImportError:
        return None
    return getattr(module, name, None)


def replay_once(run: ProgramRun, config: dict) -> Timing:
    """Register the same resources, dependencies, component outputs and exports with plain Pulumi: the cost of
    Pulumi and the mocks alone."""
    registrations = run.registrations
    by_urn = {r.urn: r for r in registrations}
    order: list[Registration] = []
    seen: set[str] = set()

    def visit(r: Registration) -> None:
        if r.urn in seen:
            return
        if r.parent and r.parent in by_urn:
            visit(by_urn[r.parent])
        for d in r.dependencies:
            if d in by_urn:
                visit(by_urn[d])
        seen.add(r.urn)
        order.append(r)

    for r in registrations:
        visit(r)

    def program() -> None:
        made: dict[str, pulumi.Resource] = {}
        for r in order:
            opts = pulumi.ResourceOptions(
                parent=made.get(r.parent) if r.parent else None,
                protect=r.protect,
                retain_on_delete=r.retain_on_delete,
                depends_on=[made[d] for d in r.dependencies if d in made] or None,
            )
            cls = _sdk_class(r.type) if r.custom else None
            if cls is not None:
                kwargs = {_snake(k): v for k, v in r.inputs.items() if not k.startswith("__")}
                made[r.urn] = cls(r.name, opts=opts, **kwargs)
            elif r.custom:
                made[r.urn] = pulumi.CustomResource(r.type, r.name, dict(r.inputs), opts)
            else:
                made[r.urn] = pulumi.ComponentResource(r.type, r.name, None, opts)
        for urn, outputs in run.component_outputs.items():
            if urn in made:
                made[urn].register_outputs(outputs)
        for key, value in run.exports.items():
            pulumi.export(key, value)

    gc.disable()
    try:
        start, cpu = time.perf_counter(), time.process_time()
        run_mocked(program, config=config)
        return Timing(time.perf_counter() - start, time.process_time() - cpu)
    finally:
        gc.enable()


def generated_cluster(nodes: int) -> dict:
    return {
        "gcp:project": "acme-ml-bench",
        "gcp:region": "us-central1",
        "ai-clusters:environment": "bench",
        "ai-clusters:zones": json.dumps(["us-central1-a"]),
        "ai-clusters:clusters": json.dumps(
            [
                {
                    "name": "big",
                    "path": "compute-engine",
                    "workload": {"kind": "pretraining", "accelerators": nodes * 8},
                    "machineType": "a3-megagpu-8g",
                    "nodes": nodes,
                    "provisioning": {"model": "reservation", "reservation": "big-res"},
                }
            ]
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", help="stack to plan (default: the largest in stacks/)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=1024)
    args = parser.parse_args()

    stack = args.stack or largest_stack()
    project = find_project(ROOT)
    config = read_stack_config(project, stack)
    plan_times, replay_times = [], []
    plan_once(stack)  # warm imports and the catalog cache for both sides
    for _ in range(args.repeat):
        # Each side starts with the other's garbage collected, so neither pays for the other's.
        gc.collect()
        t, planned = plan_once(stack)
        plan_times.append(t)
        gc.collect()
        replay_times.append(replay_once(planned, config))
    print(f"stack {stack}: {len(planned.registrations)} resources, median of {args.repeat}")
    for what in ("cpu", "wall"):
        p = statistics.median(getattr(t, what) for t in plan_times)
        f = statistics.median(getattr(t, what) for t in replay_times)
        print(f"  {what:4} time: offline plan (spec + program under mocks + cost) {p * 1000:7.1f} ms, floor {f * 1000:7.1f} ms, ratio {p / f:.2f}")
    print("  target: ratio <= 1.15 (CPU time: other processes on a shared machine do not count)")

    cfg = generated_cluster(args.nodes)

    def big() -> None:
        from ai_clusters.program import run as run_program_config

        run_program_config(cfg)

    gc.collect()
    start = time.process_time()
    run = run_mocked(big, config=cfg, stack="bench")
    elapsed = time.process_time() - start
    n = len(run.registrations)
    gc.collect()
    floor = replay_once(run, cfg).cpu
    print(
        f"generated cluster: {args.nodes} x a3-megagpu-8g nodes, {n} resources in {elapsed:.2f} s of CPU = "
        f"{elapsed / n * 1000:.2f} ms per resource (floor {floor / n * 1000:.2f} ms, ratio {elapsed / floor:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
