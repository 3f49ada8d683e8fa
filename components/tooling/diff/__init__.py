"""What a change does to the stacks: each planned offline on both sides and compared by URN.

`diff_stacks(project_dir, base_ref)` plans the stacks a change touches (or those named) in the work
tree and at a git revision, each side with its own code (`sides`), and compares them (`compare`):
resources added, removed and changed with the inputs that changed and whether the provider replaces
the resource (`replacements`, from the providers' ForceNew), stateful resources at risk, the cost
delta per cluster and the policy verdicts new and cleared. `render` writes text and the pull-request
comment; `ai-clusters diff` is the command. Exit codes: 0, 1 a mandatory violation in the head,
2 bad input, 3 a side could not be planned.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ai_clusters.tooling.diff.compare import StackDiff, compare, summary_line
from ai_clusters.tooling.diff.sides import DiffInputError, DiffRun, plan_sides

__all__ = ["DiffInputError", "DiffReport", "StackDiff", "diff_stacks", "summary_line"]


@dataclass
class DiffReport:
    """The diffs of every stack compared, and where the two sides came from."""

    base: str
    base_sha: Optional[str]
    stacks: list[StackDiff]
    run: DiffRun

    @property
    def exit_code(self) -> int:
        """1 when a head has a mandatory violation, else 3 when a side could not be planned, else 0."""
        codes = {d.exit_code for d in self.stacks}
        return 1 if 1 in codes else (3 if 3 in codes else 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "base_sha": self.base_sha,
            "code": {"base": self.run.base.code_ran, "head": self.run.head.code_ran},
            "stacks": [d.to_json() for d in self.stacks],
            "exit_code": self.exit_code,
        }


def diff_stacks(project_dir: Path, base_ref: str, stacks: Optional[list[str]] = None, *, policy: bool = True) -> DiffReport:
    """Plan and compare. Raises DiffInputError on bad input (exit code 2)."""
    run = plan_sides(Path(project_dir), base_ref, stacks, policy=policy)
    diffs = [
        compare(stack, run.base.results[stack], run.head.results[stack], base_ref=base_ref, base_sha=run.base.sha, head_ref=run.head.ref)
        for stack in run.stacks
    ]
    return DiffReport(base=base_ref, base_sha=run.base.sha, stacks=diffs, run=run)
