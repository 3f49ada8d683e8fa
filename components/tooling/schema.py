"""The component package's schema, read the way the Pulumi CLI reads it.

`ProviderProcess` runs `provider/__main__.py` (the entry point of PulumiPlugin.yaml), reads the port
it prints and calls `GetSchema` on the ResourceProvider gRPC service; `schema_text` is the form of the
checked-in snapshot `tests/data/schema.json`, which `ai-clusters schema --output PATH` refreshes.
"""

import json
from pathlib import Path
from typing import Any, Optional

from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from ai_clusters.tooling.plugin_process import PluginError, PluginProcess

REFRESH_COMMAND = "ai-clusters schema --output tests/data/schema.json"
"""The command that rewrites the checked-in schema snapshot (run in the project root)."""


class ProviderError(PluginError):
    """The component provider could not be started or answered with an error."""


class ProviderProcess(PluginProcess):
    """The component package's provider, running as a plugin process, reachable over gRPC."""

    kind = "component provider"
    error = ProviderError

    def __init__(self, provider_dir: Path, python: Optional[str] = None, start_timeout: float = 60.0):
        # As the language host runs a plugin: its program, then the engine's address (not used for GetSchema).
        super().__init__(Path(provider_dir) / "__main__.py", ["127.0.0.1:0"], python, start_timeout)
        self.stub: Optional[provider_pb2_grpc.ResourceProviderStub] = None

    def __enter__(self) -> "ProviderProcess":
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.start())
        return self

    def schema(self, version: int = 0) -> dict[str, Any]:
        """The package schema the provider infers (`GetSchema`)."""
        return json.loads(self.stub.GetSchema(provider_pb2.GetSchemaRequest(version=version)).schema)

    def plugin_version(self) -> str:
        return self.stub.GetPluginInfo(empty_pb2.Empty()).version


def read_schema(provider_dir: Path) -> dict[str, Any]:
    """Start the provider in `provider_dir`, ask it for its schema, stop it."""
    with ProviderProcess(provider_dir) as provider:
        return provider.schema()


def schema_text(schema: dict[str, Any]) -> str:
    """The snapshot's form: sorted keys, two-space indent, final newline (stable diffs)."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


__all__ = ["REFRESH_COMMAND", "ProviderError", "ProviderProcess", "read_schema", "schema_text"]
