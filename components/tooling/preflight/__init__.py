"""Pre-flight: ask Google Cloud, read-only, whether a stack can be created before `pulumi up`.

For every cluster of a stack: is the machine type offered in its zone (and, on N1, the GPU with the
count asked), is there enough regional and project-wide GPU quota for the whole stack, does a named
reservation exist, fit and have room, and are the TPU type, topology, runtime and quota there. It talks
to the Compute Engine, Cloud TPU and Cloud Quotas APIs with Google's Python clients over REST, one
request per distinct question, concurrently.

Layers: `connection` (endpoints, credentials mode, time limits), `clients` (the Google clients, retries,
errors as `problems`), `demand` (what the stack needs, pure), `lookups` (the distinct requests and
sending them), `quotas` and `checks` (holding answers against needs, pure), `render`, and `runner`.
"""

from ai_clusters.core.endpoints import Api, Connection, SettingsError
from ai_clusters.tooling.preflight.model import Check, CheckKind, PreflightReport, Status
from ai_clusters.tooling.preflight.runner import run_preflight

__all__ = ["Api", "Check", "CheckKind", "Connection", "PreflightReport", "SettingsError", "Status", "run_preflight"]
