"""How many requests a pre-flight sends and how long it takes, against a fake Google Cloud that answers
every request after 100 ms (a realistic round trip to a Google API).

Runs the largest stack of stacks/ (by node count) and a synthetic stack of 1,000 nodes over several
clusters, and prints, side by side, the requests sent, what sending them one after another would take
(requests x latency), and the wall time the concurrent pre-flight took. Then `where` for an A3 Mega
cluster (ce-a3mega-train) and an L4 cluster (ce-g2-serve) over every zone the catalog lists for them,
with quota in some regions only. Only 127.0.0.1 is contacted.

    .venv/bin/python benchmarks/preflight_fake.py [--latency 0.1] [--workers 16]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ai_clusters.core.catalog import catalog
from ai_clusters.tooling.plan.engine import find_project, read_stack_config
from ai_clusters.tooling.preflight import Connection, run_preflight
from ai_clusters.tooling.preflight.demand import stack_demand
from ai_clusters.tooling.preflight.where import find_where
from ai_clusters.core.spec import load_environment
from tests.fake_gcloud import FakeGoogleCloud, offer_everything  # noqa: E402

STORAGE = {"bucket": {"softDeleteDays": 7}}


def synthetic_stack(root: Path) -> Path:
    """1,000 GPU nodes in 5 clusters over three zones and three provisioning models, plus two TPU slices."""
    import yaml

    def gpu(name, machine, nodes, zone, provisioning, kind="inference"):
        per = {"g2-standard-8": 1, "a3-megagpu-8g": 8, "a3-highgpu-8g": 8}[machine]
        workload = {"kind": kind, "accelerators": nodes * per}
        if kind == "inference":
            workload["latencyMs"] = 200
        return {"name": name, "path": "compute-engine", "workload": workload, "machineType": machine, "nodes": nodes, "zone": zone, "provisioning": provisioning, "storage": STORAGE}

    clusters = [
        gpu("serve-a", "g2-standard-8", 300, "us-central1-a", "on-demand"),
        gpu("serve-b", "g2-standard-8", 300, "us-central1-b", "on-demand"),
        gpu("serve-spot", "g2-standard-8", 200, "us-central1-c", "spot"),
        gpu("train", "a3-megagpu-8g", 150, "us-central1-a", "spot", kind="pretraining"),
        gpu("train-res", "a3-megagpu-8g", 50, "us-central1-b", {"model": "reservation", "reservation": "mega-res"}, kind="pretraining"),
        {"name": "tpu", "path": "tpu", "workload": {"kind": "pretraining", "accelerators": 32}, "framework": "jax", "tpu": {"type": "v6e-16", "slices": 2}, "zone": "us-central1-b", "storage": STORAGE},
    ]
    config = {
        "gcp:project": "acme-ml-bench",
        "gcp:region": "us-central1",
        "ai-clusters:environment": "bench",
        "ai-clusters:zones": ["us-central1-a", "us-central1-b", "us-central1-c"],
        "ai-clusters:clusters": clusters,
    }
    (root / "Pulumi.yaml").write_text("name: ai-clusters\nruntime: python\nstackConfigDir: stacks\n")
    (root / "stacks").mkdir()
    (root / "stacks" / "Pulumi.bench-1000.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return root


def largest_repository_stack() -> str:
    project = find_project(ROOT)
    sizes = {s: sum(c.nodes for c in load_environment(read_stack_config(project, s)).clusters) for s in project.stacks()}
    return max(sizes, key=lambda s: (sizes[s], s))


def measure(root: Path, stack: str, latency: float, workers: int) -> dict:
    env = load_environment(read_stack_config(find_project(root), stack))
    cat = catalog()
    with FakeGoogleCloud(env.spec.project, delay=latency) as fake:
        offer_everything(fake, stack_demand(env, cat), cat)
        connection = Connection.from_env(fake.env())
        started = time.perf_counter()
        report = run_preflight(stack, root, connection=connection, workers=workers)
        wall = time.perf_counter() - started
        return {
            "stack": stack,
            "clusters": len(env.clusters),
            "nodes": sum(c.nodes for c in env.clusters),
            "checks": len(report.checks),
            "requests": len(fake.requests),
            "sequential": len(fake.requests) * latency,
            "checks_s": report.seconds,
            "wall": wall,
            "exit": report.exit_code,
        }


WHERE_CASES = (("ce-a3mega-train", "mega"), ("ce-g2-serve", "chat"))


def measure_where(stack: str, cluster: str, latency: float, workers: int) -> dict:
    """`where` over every zone of the cluster's family: quota in the first three regions only, so some options fit and some do not."""
    env = load_environment(read_stack_config(find_project(ROOT), stack))
    cl = next(c for c in env.clusters if c.name == cluster)
    shape = cl.shape
    zones = list(shape.zones)
    regions = list(dict.fromkeys(z.rsplit("-", 1)[0] for z in zones))
    names = catalog().data.quotas
    gpu = next(g for g in names.gpus if g.gpu == shape.gpu.compute_engine)
    with FakeGoogleCloud(env.spec.project, delay=latency) as fake:
        for z in zones:
            fake.offer_machine(z, shape.machine_type, cpus=shape.vcpus, gpus=(shape.gpu.compute_engine, shape.gpus))
        fake.set_project_quota(names.project_gpu_metric, 10_000)
        for region in regions[:3]:
            if gpu.metric:
                fake.set_region_quota(region, gpu.metric, 512)
                fake.set_region_quota(region, gpu.preemptible_metric, 512)
            else:
                fake.set_quota_value("compute.googleapis.com", names.gpu_family_quota_id, {"region": region, "gpu_family": gpu.gpu_family}, 512)
                fake.set_quota_value("compute.googleapis.com", gpu.preemptible_quota_id, {"region": region}, 512)
        connection = Connection.from_env(fake.env())
        started = time.perf_counter()
        report = find_where(stack, cluster, ROOT, connection=connection, workers=workers)
        wall = time.perf_counter() - started
        return {
            "case": f"{stack}/{cluster}",
            "zones": len(zones),
            "regions": len(regions),
            "options": len(report.options),
            "fit": sum(o.fits for o in report.options),
            "requests": len(fake.requests),
            "sequential": len(fake.requests) * latency,
            "network": report.seconds,
            "wall": wall,
            "exit": report.exit_code,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the fake waits before each answer")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    import google.cloud.compute_v1  # noqa: F401  (import once, outside the timings: it takes seconds)

    rows = [measure(ROOT, largest_repository_stack(), args.latency, args.workers)]
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(measure(synthetic_stack(Path(tmp)), "bench-1000", args.latency, args.workers))
    print(f"fake Google Cloud on 127.0.0.1, {args.latency * 1000:.0f} ms per answer, {args.workers} workers")
    head = f"{'stack':<16}{'clusters':>9}{'nodes':>7}{'checks':>8}{'requests':>10}{'sequential':>12}{'actual':>9}{'speed-up':>10}{'command':>9}  exit"
    print("sequential: requests x latency, one after another; actual: the requests as the pre-flight sends them")
    print("(concurrently, in two rounds); command: all of run_preflight, reading and checking the stack included")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['stack']:<16}{r['clusters']:>9}{r['nodes']:>7}{r['checks']:>8}{r['requests']:>10}"
            f"{r['sequential']:>11.2f}s{r['checks_s']:>8.2f}s{r['sequential'] / r['checks_s']:>9.1f}x{r['wall']:>8.2f}s  {r['exit']}"
        )
    print()
    print(f"where: every zone the catalog lists, on-demand/spot/flex-start, {args.workers * 2} workers; network: the concurrent rounds of requests")
    head = f"{'cluster':<24}{'zones':>6}{'regions':>8}{'options':>8}{'fit':>5}{'requests':>10}{'sequential':>12}{'network':>9}{'command':>9}  exit"
    print(head)
    print("-" * len(head))
    for stack, cluster in WHERE_CASES:
        r = measure_where(stack, cluster, args.latency, args.workers * 2)
        print(
            f"{r['case']:<24}{r['zones']:>6}{r['regions']:>8}{r['options']:>8}{r['fit']:>5}{r['requests']:>10}"
            f"{r['sequential']:>11.2f}s{r['network']:>8.2f}s{r['wall']:>8.2f}s  {r['exit']}"
        )


if __name__ == "__main__":
    main()
