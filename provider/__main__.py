"""Entry point of the ai-clusters component package: hosts every public component.

Pulumi infers the package schema from the components' typed args (TypedDicts with docstrings) and
typed outputs; type tokens are `ai-clusters:index:<Name>`.
"""

from pulumi.provider.experimental import component_provider_host

from ai_clusters.provider import COMPONENTS, PACKAGE, VERSION, use_inherited_docstrings

if __name__ == "__main__":
    use_inherited_docstrings()
    component_provider_host(components=COMPONENTS, name=PACKAGE, version=VERSION)
