"""The plan's policy verdicts as SARIF 2.1.0, for code scanning (one result per violation)."""

from typing import Any

from ai_clusters.rules import RULES
from ai_clusters.tooling.plan import Plan
from ai_clusters.tooling.plan.render import grouped

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"mandatory": "error", "advisory": "warning"}
UNPRICED_RULE = "unpriced-cost"


def sarif(plan: Plan) -> dict[str, Any]:
    """A SARIF log whose rule ids are the policy names (plus `unpriced-cost` notes); results point at the stack file."""
    stack_file = f"stacks/Pulumi.{plan.stack}.yaml"
    rules = [
        {
            "id": rule.name,
            "name": rule.name,
            "shortDescription": {"text": rule.description},
            "help": {"text": rule.remediation},
            "defaultConfiguration": {"level": LEVELS.get(rule.level, "note")},
        }
        for rule in RULES
    ]
    rules.append(
        {
            "id": UNPRICED_RULE,
            "name": UNPRICED_RULE,
            "shortDescription": {"text": "A provisioned part has no list price in the catalog: the plan's cost totals are lower bounds."},
            "help": {"text": "Add a sourced list price to the catalog, or read the cost as 'at least'."},
            "defaultConfiguration": {"level": "note"},
        }
    )
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    results = []
    for v in plan.policy:
        result: dict[str, Any] = {
            "ruleId": v.policy,
            "level": LEVELS.get(v.level, "note"),
            "message": {"text": v.message},
            "locations": [
                {
                    "physicalLocation": {"artifactLocation": {"uri": stack_file}},
                    "logicalLocations": [{"fullyQualifiedName": v.urn or f"stack:{plan.stack}", "kind": "resource"}],
                }
            ],
        }
        if v.policy in index:
            result["ruleIndex"] = index[v.policy]
        results.append(result)
    for line in grouped(plan.cost.unpriced):
        results.append(
            {
                "ruleId": UNPRICED_RULE,
                "ruleIndex": index[UNPRICED_RULE],
                "level": "note",
                "message": {"text": f"not priced: {line}"},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": stack_file}}}],
            }
        )
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "ai-clusters", "rules": rules}},
                "automationDetails": {"id": f"ai-clusters/{plan.stack}"},
                # what the pack could not check is said, not implied by an empty result list
                "invocations": [
                    {
                        "executionSuccessful": plan.policy_pack is not None,
                        "toolExecutionNotifications": [
                            {"level": "warning", "message": {"text": gap}} for gap in plan.policy_not_checked
                        ]
                        + ([] if plan.policy_pack is not None else [{"level": "warning", "message": {"text": "the policy pack was not run"}}]),
                    }
                ],
                "results": results,
            }
        ],
    }
