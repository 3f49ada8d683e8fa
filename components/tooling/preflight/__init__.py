"""Pre-flight: ask Google Cloud, read-only, whether a stack can be created before `pulumi up`.

For every cluster of a stack, on every path: is the machine type (or TPU type, topology and runtime)
offered in its zone, and is there enough of each quota it draws on for the whole stack: the regional
and all-regions GPU quota of its pool (Compute Engine, GKE GPU pools, Slurm node sets), the Cloud TPU
API's per-zone and per-region quota (TPU VMs), Compute Engine's TPU quota (GKE TPU node pools),
Vertex AI's training or serving GPU quota (Vertex AI); does a named reservation exist, fit and have
room. `where` asks the same of one cluster in every zone the catalog lists for it, and ranks the
options that fit by list price. It talks to the Compute Engine, Cloud TPU and Cloud Quotas APIs with
Google's Python clients over REST, one request per distinct question, concurrently.

Layers: `connection` (endpoints, credentials mode, time limits), `clients` (the Google clients, retries,
errors as `problems`), `demand` (what the stack needs, quota by quota, pure), `lookups` (the distinct
requests and sending them), `quotas` and `checks` (holding answers against needs, pure), `render`, and
`runner`; `where` and `where_render` for `ai-clusters where`.
"""

from ai_clusters.core.endpoints import Api, Connection, SettingsError
from ai_clusters.tooling.preflight.model import Check, CheckKind, PreflightReport, Status
from ai_clusters.tooling.preflight.runner import run_preflight

__all__ = ["Api", "Check", "CheckKind", "Connection", "PreflightReport", "SettingsError", "Status", "run_preflight"]
