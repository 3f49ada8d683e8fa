"""Where requests to Google's APIs go, with which credentials, and how long they may wait.

Shared by the pre-flight (which reads the Compute Engine, Cloud TPU and Cloud Quotas APIs) and the TPU
queued resource provider (which writes to the Cloud TPU API). By default the real Google APIs and
Application Default Credentials. Each API's base URL can be overridden (tests, Private Service
Connect, emulators); `AI_CLUSTERS_ANONYMOUS_CREDENTIALS=1` then sends no credentials at all, which is
refused unless every endpoint the caller uses is overridden, so that nothing unauthenticated ever goes
to Google.
"""

import os
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Mapping, Optional
from urllib.parse import urlsplit

ANONYMOUS_VAR = "AI_CLUSTERS_ANONYMOUS_CREDENTIALS"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


class Api(str, Enum):
    """The Google APIs the pre-flight and `catalog refresh` read, by service name."""

    COMPUTE = "compute.googleapis.com"
    TPU = "tpu.googleapis.com"
    QUOTAS = "cloudquotas.googleapis.com"
    BILLING = "cloudbilling.googleapis.com"

    @property
    def endpoint_var(self) -> str:
        return f"AI_CLUSTERS_{self.name}_ENDPOINT"

    @property
    def title(self) -> str:
        return {Api.COMPUTE: "Compute Engine API", Api.TPU: "Cloud TPU API", Api.QUOTAS: "Cloud Quotas API", Api.BILLING: "Cloud Billing API"}[self]

    @property
    def viewer_role(self) -> str:
        """A predefined role that holds the read permissions needed on this API (the Billing Catalog needs only a usable API)."""
        return {
            Api.COMPUTE: "roles/compute.viewer",
            Api.TPU: "roles/tpu.viewer",
            Api.QUOTAS: "roles/cloudquotas.viewer",
            Api.BILLING: "roles/serviceusage.serviceUsageConsumer",
        }[self]


PREFLIGHT_APIS = (Api.COMPUTE, Api.TPU, Api.QUOTAS)


class SettingsError(ValueError):
    """The endpoint or credential settings are unusable (bad input: exit code 2)."""


@dataclass(frozen=True)
class Connection:
    """Endpoints, credentials mode and time limits of one pre-flight."""

    endpoints: Mapping[Api, Optional[str]] = field(default_factory=dict)
    anonymous: bool = False
    attempt_timeout: float = 10.0
    deadline: float = 30.0

    def endpoint(self, api: Api) -> Optional[str]:
        return self.endpoints.get(api)

    def describe(self, api: Api) -> str:
        """Where requests to `api` go, for messages."""
        return self.endpoint(api) or f"https://{api.value}"

    @classmethod
    def from_env(
        cls,
        env: Optional[Mapping[str, str]] = None,
        *,
        attempt_timeout: float = 10.0,
        deadline: float = 30.0,
        apis: Iterable[Api] = PREFLIGHT_APIS,
    ) -> "Connection":
        """Read the `AI_CLUSTERS_*` variables of `apis`; SettingsError names every bad one.

        `apis`: the APIs the caller sends requests to; anonymous credentials need every one of them overridden."""
        env = os.environ if env is None else env
        apis = tuple(apis)
        problems: list[str] = []
        endpoints: dict[Api, Optional[str]] = {}
        for api in apis:
            raw = (env.get(api.endpoint_var) or "").strip()
            if not raw:
                endpoints[api] = None
                continue
            url = urlsplit(raw)
            if url.scheme not in ("http", "https") or not url.netloc or url.path.strip("/") or url.query or url.fragment:
                problems.append(f"{api.endpoint_var}={raw!r} is not a base URL such as http://127.0.0.1:8123 (scheme, host and port only)")
                continue
            endpoints[api] = f"{url.scheme}://{url.netloc}"
        flag = (env.get(ANONYMOUS_VAR) or "").strip().lower()
        if flag not in ("", "0", "1", "true", "false"):
            problems.append(f"{ANONYMOUS_VAR}={flag!r} must be 1 or 0")
        anonymous = flag in ("1", "true")
        if anonymous:
            missing = [api.endpoint_var for api in apis if not endpoints.get(api)]
            if missing:
                problems.append(
                    f"{ANONYMOUS_VAR}=1 sends no credentials and is only allowed when every endpoint is overridden; not set: {', '.join(missing)}"
                )
        if attempt_timeout <= 0 or deadline <= 0:
            problems.append("timeouts must be positive")
        if problems:
            raise SettingsError("; ".join(problems))
        return cls(endpoints=endpoints, anonymous=anonymous, attempt_timeout=min(attempt_timeout, deadline), deadline=deadline)


def google_credentials(connection: Connection):
    """Application Default Credentials (raises google.auth's DefaultCredentialsError), or none when anonymous."""
    from google.auth import credentials as ga_credentials

    if connection.anonymous:
        return ga_credentials.AnonymousCredentials()
    import google.auth

    creds, _ = google.auth.default(scopes=list(SCOPES))
    return creds
