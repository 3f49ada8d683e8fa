"""Resources that cannot carry labels take the workload labels of the resource that names them.

A Vertex AI deployment resource pool has no labels field; the endpoint serving from it carries the
contract labels and names the pool in `ai-deployment-pool`. Per-resource analysis cannot see that
link, so this stack rule runs the mandatory per-resource rules over each such resource with the
labels it borrows, and reports a label-less accelerator resource that nothing names.
"""

from dataclasses import replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from ai_clusters.core.accelerators import LABELLESS, with_borrowed_labels
from ai_clusters.rules.base import Resource, Rule, Violation


def link_labels(resources: list[Resource]) -> list[Resource]:
    """The resources as stack checks see them: each label-less one with the labels of the resource naming it."""
    props = with_borrowed_labels((r.type, r.props) for r in resources)
    return [r if p is r.props else replace(r, props=p) for r, p in zip(resources, props)]


def _short(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def workload_by_reference(rules: Callable[[], Sequence[Rule]]) -> Rule:
    """The stack rule that applies `rules()` (mandatory per-resource rules) to label-less resources."""

    def check(resources: list[Resource], _cfg: Mapping[str, Any]) -> Iterable[Violation]:
        for r in resources:
            if r.type not in LABELLESS or not r.uses:
                continue
            if not r.labels:
                carrier, key = LABELLESS[r.type]
                yield Violation(
                    f"workload-declared: {_short(r.type)} {r.name} has no labels field and no {_short(carrier)} names it in "
                    f"its {key} label, so its workload is unknown",
                    r.urn,
                )
                continue
            for rule in rules():
                for message in rule.check(r, rule.default_config):
                    yield Violation(f"{rule.name}: {message}", r.urn)

    return Rule(
        name="workload-by-reference",
        description=(
            "Accelerator resources without a labels field (Vertex AI deployment resource pools) are named by a labelled resource "
            "(the endpoint's ai-deployment-pool label) and pass the mandatory workload rules with its labels."
        ),
        level="mandatory",
        remediation=(
            "Serve from the pool through an endpoint that carries the workload labels and names the pool in ai-deployment-pool "
            "(VertexServing does), then fix what the named rule reports."
        ),
        check_stack=check,
    )
