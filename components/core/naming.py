"""Names and ids as Google Cloud takes them: the last segment of a self link, ids within their limits."""

import hashlib
import re
from typing import Any

SERVICE_ACCOUNT_ID_MIN = 6
SERVICE_ACCOUNT_ID_MAX = 30
# IAM: "must be 6-30 characters long, and match the regular expression [a-z]([-a-z0-9]*[a-z0-9])"
SERVICE_ACCOUNT_ID_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])$")
SLURM_CLUSTER_NAME_MAX = 20  # slurm-gcp's controller module: ^[a-z]([-a-z0-9]{0,19})$


def last_segment(value: Any) -> str:
    """`https://…/projects/p/global/networks/net` (or `projects/p/…/net`, or `net`) -> `net`."""
    return str(value or "").rstrip("/").rsplit("/", 1)[-1]


def bounded_id(base: str, max_length: int, *, min_length: int = 1, pad: str = "x") -> str:
    """`base` cut to `max_length` characters without a trailing hyphen; when cut, a short digest of the whole
    keeps two long names apart (`prod-slurm-llm-…-controller` and `…-login` stay different)."""
    base = re.sub(r"-+", "-", base.lower()).strip("-")
    if len(base) > max_length:
        digest = hashlib.sha256(base.encode()).hexdigest()[:4]
        base = f"{base[: max_length - 5].rstrip('-')}-{digest}"
    while len(base) < min_length:
        base += pad
    return base


def service_account_id(base: str) -> str:
    """A service account id from `base`: 6-30 characters, a lowercase letter first, no trailing hyphen."""
    base = re.sub(r"[^a-z0-9-]", "-", base.lower())
    if not base[:1].isalpha():
        base = f"sa-{base}"
    return bounded_id(base, SERVICE_ACCOUNT_ID_MAX, min_length=SERVICE_ACCOUNT_ID_MIN)


def prefixed_id_room(prefix_max: int, *suffixes: str) -> int:
    """How long a prefix may be so that `PREFIX-SUFFIX` stays within `prefix_max` for every suffix."""
    return prefix_max - 1 - max(len(s) for s in suffixes)


__all__ = [
    "SERVICE_ACCOUNT_ID_MAX",
    "SERVICE_ACCOUNT_ID_MIN",
    "SERVICE_ACCOUNT_ID_RE",
    "SLURM_CLUSTER_NAME_MAX",
    "bounded_id",
    "last_segment",
    "prefixed_id_room",
    "service_account_id",
]
