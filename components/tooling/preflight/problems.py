"""Why a question to Google Cloud got no usable answer, as one line a person can act on.

Every failure of a request (a Google API error, a timeout, a refused connection, missing credentials)
becomes an `ApiProblem`; nothing below the command line lets an exception escape as a traceback.
"""

import re
from dataclasses import dataclass
from enum import Enum
import requests
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc

from ai_clusters.core.endpoints import Api

_PERMISSION = re.compile(r"'([a-z][a-z0-9]*\.[A-Za-z0-9]+\.[A-Za-z0-9]+)'")


class ProblemKind(str, Enum):
    PERMISSION = "permission"
    API_DISABLED = "api-disabled"
    NOT_FOUND = "not-found"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    CREDENTIALS = "credentials"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ApiProblem:
    """A request that got no usable answer: what kind of trouble, and the line that explains it."""

    kind: ProblemKind
    api: Api
    line: str

    @property
    def not_found(self) -> bool:
        return self.kind == ProblemKind.NOT_FOUND


def no_credentials(detail: str) -> ApiProblem:
    first = detail.strip().splitlines()[0] if detail.strip() else "none found"
    return ApiProblem(
        ProblemKind.CREDENTIALS,
        Api.COMPUTE,
        "no credentials: Application Default Credentials are not set up "
        f"({first.rstrip('.')}); run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS",
    )


def _disabled(exc: gexc.GoogleAPICallError) -> bool:
    if getattr(exc, "reason", None) == "SERVICE_DISABLED":
        return True
    for err in getattr(exc, "errors", None) or []:
        if isinstance(err, dict) and err.get("reason") in ("accessNotConfigured", "SERVICE_DISABLED"):
            return True
    text = str(getattr(exc, "message", "") or exc)
    return "has not been used in project" in text or "it is disabled" in text


def _permission(exc: gexc.GoogleAPICallError, fallback: str) -> str:
    meta = getattr(exc, "metadata", None) or {}
    if isinstance(meta, dict) and meta.get("permission"):
        return str(meta["permission"])
    found = _PERMISSION.search(str(getattr(exc, "message", "") or ""))
    return found.group(1) if found else fallback


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def classify(exc: BaseException, *, api: Api, project: str, permission: str, where: str, deadline: float) -> ApiProblem:
    """Turn whatever a client call raised into an ApiProblem (the cause of a RetryError is unwrapped)."""
    gave_up = False
    if isinstance(exc, gexc.RetryError):
        gave_up = True
        exc = exc.cause or exc
    if isinstance(exc, (auth_exc.DefaultCredentialsError, auth_exc.RefreshError)):
        return no_credentials(str(exc))
    if isinstance(exc, requests.exceptions.Timeout):
        return ApiProblem(ProblemKind.TIMEOUT, api, f"{api.title} did not answer in time at {where} (deadline {deadline:g}s)")
    if isinstance(exc, auth_exc.TransportError):
        return ApiProblem(ProblemKind.CREDENTIALS, api, f"could not get an access token for the {api.title}: {_short(exc, 120)}")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return ApiProblem(ProblemKind.UNREACHABLE, api, f"cannot reach the {api.title} at {where}: {_short(exc, 120)}")
    if isinstance(exc, gexc.GoogleAPICallError):
        code = int(exc.code) if exc.code is not None else 0
        if code in (401,):
            return no_credentials(exc.message or "the credentials were rejected")
        if _disabled(exc):
            return ApiProblem(
                ProblemKind.API_DISABLED,
                api,
                f"the {api.title} is not enabled in project {project}: gcloud services enable {api.value} --project {project}",
            )
        if code == 403:
            perm = _permission(exc, permission)
            return ApiProblem(
                ProblemKind.PERMISSION,
                api,
                f"permission denied: {perm} on project {project} (grant {api.viewer_role}, or a role that holds {perm})",
            )
        if code == 404:
            return ApiProblem(ProblemKind.NOT_FOUND, api, _short(exc.message or "not found"))
        if code == 429 or code >= 500:
            after = f" for {deadline:g}s" if gave_up else ""
            return ApiProblem(ProblemKind.UNAVAILABLE, api, f"the {api.title} kept answering {code} {_short(exc.message or '', 80)}{after}; try again later".replace("  ", " "))
        return ApiProblem(ProblemKind.REJECTED, api, f"the {api.title} rejected the request ({code}): {_short(exc.message or '')}")
    return ApiProblem(ProblemKind.REJECTED, api, f"the {api.title} request failed: {type(exc).__name__}: {_short(exc)}")
