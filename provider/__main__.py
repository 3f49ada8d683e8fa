"""Entry point of the ai-clusters component package: hosts every public component.

Pulumi infers the package schema from the components' typed args (TypedDicts with docstrings) and
typed outputs; type tokens are `ai-clusters:index:<Name>`. `use_package_provider` makes the host
serve `ai_clusters.tooling.provider.AiClustersProvider` (secret outputs, camelCase keys in list outputs).
"""

from pulumi.provider.experimental import component_provider_host

from ai_clusters.tooling.provider import COMPONENTS, PACKAGE, VERSION, use_package_provider

if __name__ == "__main__":
    use_package_provider()
    component_provider_host(components=COMPONENTS, name=PACKAGE, version=VERSION)
