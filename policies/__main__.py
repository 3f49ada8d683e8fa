"""The ai-clusters policy pack: every rule of `ai_clusters.rules` as a Pulumi policy.

The rules are pure functions; this file only wires them into pulumi_policy. Settings (allowed
families and hourly budget per environment, exempt environments …) come through each policy's
config schema, so one pack serves dev, staging and prod: pass `policies/config/<env>.json` with
`--policy-pack-config`.
"""

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from ai_clusters.rules import RULES, Resource, Rule, link_labels

LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}


def _resource(r) -> Resource:
    return Resource(urn=r.urn, type=r.resource_type, name=r.name, props=r.props, protect=bool(r.opts.protect))


def _config(args, rule: Rule) -> dict:
    return {**rule.default_config, **dict(args.get_config() or {})}


def _policy(rule: Rule):
    common = dict(
        name=rule.name,
        description=rule.description,
        enforcement_level=LEVELS[rule.level],
        config_schema=PolicyConfigSchema(properties=dict(rule.config_schema)) if rule.config_schema else None,
        remediation_steps=rule.remediation,
    )
    if rule.check is not None:

        def validate(args, report, rule=rule):
            for message in rule.check(_resource(args), _config(args, rule)):
                report(message)

        return ResourceValidationPolicy(validate=validate, **common)

    def validate_stack(args, report, rule=rule):
        resources = link_labels([_resource(r) for r in args.resources])
        for violation in rule.check_stack(resources, _config(args, rule)):
            report(violation.message, violation.urn)

    return StackValidationPolicy(validate=validate_stack, **common)


PolicyPack(
    name="ai-clusters",
    description="AI accelerator clusters on Google Cloud: tier fits workload, networking complete, secure, data survives, within budget.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[_policy(rule) for rule in RULES],
)
