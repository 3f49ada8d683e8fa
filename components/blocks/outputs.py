"""A component's outputs are its `pulumi.Output` annotations, and nothing else.

The annotations (with their docstrings) are what the component package's schema is inferred from;
`register_typed_outputs` registers exactly those, and the program exports exactly those, so the
schema, the registered outputs and the stack outputs cannot drift apart.
"""

import pulumi


def output_names(component_type: type) -> list[str]:
    """The public `pulumi.Output[...]` annotations of a component class and its bases, bases first."""
    names: list[str] = []
    for cls in reversed(component_type.__mro__):
        for key, annotation in getattr(cls, "__annotations__", {}).items():
            if not key.startswith("_") and "Output" in str(annotation) and key not in names:
                names.append(key)
    return names


def typed_outputs(component: pulumi.ComponentResource) -> dict[str, pulumi.Output]:
    """Every typed output of `component`, by name."""
    return {key: getattr(component, key) for key in output_names(type(component))}


def register_typed_outputs(component: pulumi.ComponentResource) -> None:
    """`register_outputs` with every typed output of the component."""
    component.register_outputs(typed_outputs(component))
