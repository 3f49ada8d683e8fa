"""Names and ids as Google Cloud takes them: the last segment of a self link, ids within their limits."""

import hashlib
import re
from typing import Any


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


__all__ = ["bounded_id", "last_segment"]
