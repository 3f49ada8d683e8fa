"""What a pre-flight finds: one `Check` per question asked of Google Cloud, and the report.

The JSON form is a contract with scripts (see `PreflightReport.to_json`): field names, the check kinds
and the statuses do not change without a new major version.
"""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional


class Status(str, Enum):
    """`ok` it fits, `fail` it does not, `unknown` the question could not be asked or answered."""

    OK = "ok"
    FAIL = "fail"
    UNKNOWN = "unknown"


class CheckKind(str, Enum):
    """What was checked."""

    MACHINE_TYPE = "machine-type"
    ACCELERATOR_TYPE = "accelerator-type"
    QUOTA = "quota"
    PROJECT_QUOTA = "project-quota"
    RESERVATION = "reservation"
    TPU_ACCELERATOR_TYPE = "tpu-accelerator-type"
    TPU_RUNTIME = "tpu-runtime"
    TPU_QUOTA = "tpu-quota"


@dataclass(frozen=True)
class Check:
    """One answer about one cluster: what is needed, what is there, and what to do about it."""

    cluster: str
    kind: CheckKind
    where: str
    status: Status
    message: str
    needed: Optional[float] = None
    available: Optional[float] = None
    short: str = ""
    """A failed quota in a few words (what, how much is missing, which quota), for `where`; not part of the JSON."""

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "check": self.kind.value,
            "zone_or_region": self.where,
            "status": self.status.value,
            "needed": _number(self.needed),
            "available": _number(self.available),
            "message": self.message,
        }


def _number(value: Optional[float]) -> Optional[float]:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


@dataclass
class PreflightReport:
    """Every check of a stack, plus what was left out and how many requests it took."""

    stack: str
    project: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What was not checked, and why (a quota whose id no source confirms, a reservation not read …)."""
    requests: int = 0
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 all ok, 1 something does not fit, 3 nothing failed but something (or everything) could not be checked."""
        statuses = {c.status for c in self.checks}
        if not self.checks:
            return 3
        if Status.FAIL in statuses:
            return 1
        if Status.UNKNOWN in statuses:
            return 3
        return 0

    def count(self, status: Status) -> int:
        return sum(1 for c in self.checks if c.status == status)

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "project": self.project, "checks": [c.to_json() for c in self.checks], "not_checked": list(self.notes)}
