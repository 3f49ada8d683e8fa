"""The policy rules as pure functions over resources (type, inputs, options, labels).

`policies/__main__.py` wires each `Rule` into a pulumi_policy policy; tests and the offline plan can
call them directly. A rule returns violation messages; it never raises on odd input.
"""

from ai_clusters.rules.base import Resource, Rule, Violation
from ai_clusters.rules.catalog_rules import (
    ACCELERATOR_WASTE,
    HPC_TIER,
    LATENCY_BOUND_SERVING,
    SCALE_FITS_TIER,
    TIER_FITS_WORKLOAD,
    TPU_SHAPE,
    WORKLOAD_DECLARED,
)
from ai_clusters.rules.linked_rules import link_labels, workload_by_reference
from ai_clusters.rules.platform_rules import (
    BUDGET_AND_ENVIRONMENT,
    DATA_SURVIVES,
    GPU_HOST_MAINTENANCE,
    NETWORKING_COMPLETE,
    SECURE_ACCELERATORS,
)

RULES: list[Rule] = [
    TIER_FITS_WORKLOAD,
    HPC_TIER,
    SCALE_FITS_TIER,
    ACCELERATOR_WASTE,
    LATENCY_BOUND_SERVING,
    NETWORKING_COMPLETE,
    GPU_HOST_MAINTENANCE,
    TPU_SHAPE,
    SECURE_ACCELERATORS,
    DATA_SURVIVES,
    WORKLOAD_DECLARED,
    BUDGET_AND_ENVIRONMENT,
]
RULES.append(workload_by_reference(lambda: [r for r in RULES if r.check is not None and r.level == "mandatory"]))

__all__ = ["RULES", "Resource", "Rule", "Violation", "evaluate", "link_labels"]


def evaluate(resources: list[Resource], config: dict | None = None) -> list[tuple[Rule, Violation]]:
    """Run every rule over `resources` (what the pack does, without the gRPC service)."""
    config = config or {}
    found: list[tuple[Rule, Violation]] = []
    linked = link_labels(list(resources))
    for rule in RULES:
        cfg = {**rule.default_config, **(config.get(rule.name) or {})}
        if rule.check is not None:
            for r in resources:
                found.extend((rule, Violation(m, r.urn)) for m in rule.check(r, cfg))
        if rule.check_stack is not None:
            found.extend((rule, v) for v in rule.check_stack(linked, cfg))
    return found
