"""Policy pack throughput: a 5,000-resource stack through the Analyzer gRPC service, as the CLI sends it.

Starts policies/__main__.py as a process, sends Analyze for every resource and one AnalyzeStack, and
prints resources per second for each phase side by side.

    .venv/bin/python benchmarks/policy_throughput.py [--resources 5000]
"""

import argparse
import sys
import time
from pathlib import Path

from ai_clusters.tooling.plan.policy import PolicyPackProcess

ROOT = Path(__file__).resolve().parent.parent


def generated_stack(n: int) -> list[tuple[str, str, str, dict, bool, None]]:
    """A3 Mega training nodes with their 9 NICs, the networks they sit on, placement, and buckets."""
    out = []
    nets = [("host", 8244)] + [(f"gpu-{i}", 8244) for i in range(8)]
    for name, mtu in nets:
        out.append((f"urn:pulumi:bench::p::gcp:compute/network:Network::{name}", "gcp:compute/network:Network", name, {"name": name, "mtu": mtu}, False, None))
    out.append(("urn:pulumi:bench::p::gcp:compute/resourcePolicy:ResourcePolicy::pp", "gcp:compute/resourcePolicy:ResourcePolicy", "pp", {"name": "pp", "groupPlacementPolicy": {"collocation": "COLLOCATED"}}, False, None))
    labels = {"ai-workload": "pretraining", "ai-environment": "bench", "ai-cluster": "big", "ai-accelerators": str(8 * n), "ai-nodes": str(n)}
    i = 0
    while len(out) < n:
        if i % 50 == 49:
            name = f"data-{i}"
            props = {"labels": labels, "publicAccessPrevention": "enforced", "uniformBucketLevelAccess": True, "location": "US-CENTRAL1"}
            out.append((f"urn:pulumi:bench::p::gcp:storage/bucket:Bucket::{name}", "gcp:storage/bucket:Bucket", name, props, True, None))
        else:
            name = f"node-{i}"
            props = {
                "machineType": "a3-megagpu-8g",
                "zone": "us-central1-a",
                "labels": labels,
                "networkInterfaces": [{"network": f"https://x/global/networks/{n_}", "subnetwork": f"s-{n_}", "nicType": "GVNIC"} for n_, _ in nets],
                "scheduling": {"onHostMaintenance": "TERMINATE", "provisioningModel": "STANDARD"},
                "shieldedInstanceConfig": {"enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True},
                "metadata": {"enable-oslogin": "TRUE"},
                "serviceAccount": {"email": "big-nodes@p.iam.gserviceaccount.com", "scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
                "resourcePolicies": "https://x/regions/us-central1/resourcePolicies/pp",
            }
            out.append((f"urn:pulumi:bench::p::gcp:compute/instance:Instance::{name}", "gcp:compute/instance:Instance", name, props, False, None))
        i += 1
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=5000)
    args = parser.parse_args()
    stack = generated_stack(args.resources)
    with PolicyPackProcess(ROOT / "policies") as pack:
        pack.configure({})
        start = time.perf_counter()
        violations = 0
        for urn, type_, name, props, protect, _ in stack:
            violations += len(pack.analyze(urn, type_, name, props, protect))
        per_resource = time.perf_counter() - start
        start = time.perf_counter()
        violations += len(pack.analyze_stack(stack))
        whole = time.perf_counter() - start
    n = len(stack)
    print(f"{n} resources, {violations} violations")
    print(f"  Analyze, one call per resource : {per_resource:7.2f} s = {n / per_resource:8.0f} resources/s")
    print(f"  AnalyzeStack, one call         : {whole:7.2f} s = {n / whole:8.0f} resources/s")
    print(f"  both (what a preview costs)    : {per_resource + whole:7.2f} s = {n / (per_resource + whole):8.0f} resources/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
