"""Both sides of a change, planned: the work tree, and a git revision checked out in a temporary worktree.

Each side is planned by its own code. A side whose repository has the `ai_clusters` package
(`components/`) runs `snapshot.py` in a process of its own with that folder importable as
`ai_clusters`, ahead of the installed package; so does the policy pack it starts. A project that only
uses the installed package (no `components/` in its repository) is planned by the installed code on
both sides. The two sides run at the same time.
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from ai_clusters.tooling.plan.engine import PlanInputError, Project, find_project

SNAPSHOT = Path(__file__).resolve().parent / "snapshot.py"
PACKAGE_DIR = "components"
"""The folder of a repository that is the `ai_clusters` package (pyproject's package-dir)."""
PROGRAM_PATHS = (PACKAGE_DIR + "/", "policies/", "__main__.py", "Pulumi.yaml", "pyproject.toml")
"""Paths (relative to the project, or to the repository for the package) whose change can change every
stack's plan: the package, the policy pack, the program, the project file, the dependencies."""
SIDE_TIMEOUT_S = 1800


class DiffInputError(Exception):
    """Bad input to a diff: not a git repository, unknown revision, unknown stack (exit code 2)."""


@dataclass
class SideResult:
    """One stack on one side: its plan snapshot, or absent, or why it could not be planned."""

    snapshot: Optional[dict[str, Any]] = None
    absent: bool = False
    error: Optional[str] = None
    kind: Optional[str] = None

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "SideResult":
        return cls(snapshot=doc.get("snapshot"), absent=bool(doc.get("absent")), error=doc.get("error"), kind=doc.get("kind"))


@dataclass
class Side:
    """Where one side comes from and which code plans it."""

    name: str  # base | head
    ref: str  # the revision as given, or "work tree"
    sha: Optional[str]
    project_dir: Path
    code: Optional[Path]
    """The side's own `components/`, or None for the installed package."""
    results: dict[str, SideResult] = field(default_factory=dict)
    code_ran: Optional[str] = None


class Repository:
    """The git repository around a project."""

    def __init__(self, start: Path):
        done = self._git(["rev-parse", "--show-toplevel"], cwd=start, check=False)
        if done.returncode != 0:
            raise DiffInputError(f"{start} is not in a git repository: {done.stderr.strip()}")
        self.root = Path(done.stdout.strip()).resolve()

    @staticmethod
    def _git(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise DiffInputError(f"git {' '.join(args)}: {done.stderr.strip()}")
        return done

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self._git(list(args), self.root, check)

    def resolve(self, ref: str) -> str:
        """The commit a revision names (exit code 2 when it names none)."""
        done = self.git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
        if done.returncode != 0 or not done.stdout.strip():
            raise DiffInputError(
                f"unknown revision {ref!r} in {self.root}: name a branch, tag or commit this clone has "
                "(in CI, fetch the base branch first)"
            )
        return done.stdout.strip()

    def changed_paths(self, sha: str) -> list[str]:
        """Paths (from the repository root) that differ between `sha` and the work tree, untracked ones included."""
        tracked = self.git("diff", "--name-only", "--no-renames", "-z", sha).stdout.split("\0")
        untracked = self.git("ls-files", "--others", "--exclude-standard", "-z").stdout.split("\0")
        return sorted({p for p in tracked + untracked if p})

    @contextlib.contextmanager
    def checkout(self, sha: str, where: Path) -> Iterator[Path]:
        """`sha` checked out (detached) at `where`, removed afterwards whatever happens."""
        self.git("worktree", "add", "--detach", "--quiet", str(where), sha)
        try:
            yield where
        finally:
            self.git("worktree", "remove", "--force", str(where), check=False)
            self.git("worktree", "prune", check=False)


def own_code(repository_root: Path) -> Optional[Path]:
    """The repository's own `ai_clusters` package, when it has one."""
    package = repository_root / PACKAGE_DIR
    return package if (package / "__init__.py").is_file() and (package / "tooling" / "plan" / "__init__.py").is_file() else None


def touched_stacks(changed: list[str], project: Project, repository_root: Path, stacks: list[str]) -> list[str]:
    """The stacks a change touches: all of them when it touches the program, its code or the policy pack,
    else those whose stack file changed (added, edited or removed)."""
    project_rel = project.root.resolve().relative_to(repository_root)
    stack_dir = project.stack_config_dir.resolve().relative_to(repository_root)
    program = [str(project_rel / p) if str(project_rel) != "." else p for p in PROGRAM_PATHS] + [PACKAGE_DIR + "/"]
    if any(path == p or (p.endswith("/") and path.startswith(p)) for path in changed for p in program):
        return stacks
    touched = set()
    for path in changed:
        p = Path(path)
        if p.parent == stack_dir and p.name.startswith("Pulumi.") and p.suffix == ".yaml":
            touched.add(p.name[len("Pulumi.") : -len(".yaml")])
    return [s for s in stacks if s in touched]


@dataclass
class DiffRun:
    """What `plan_sides` found: the sides and the stacks compared."""

    base: Side
    head: Side
    stacks: list[str]
    changed_paths: list[str]


def plan_sides(project_dir: Path, base_ref: str, stacks: Optional[list[str]] = None, policy: bool = True) -> DiffRun:
    """Plan `stacks` (default: every stack the change touches) as they are in the work tree and at `base_ref`."""
    try:
        head_project = find_project(project_dir)
    except PlanInputError as exc:
        raise DiffInputError(str(exc)) from None
    repo = Repository(head_project.root)
    sha = repo.resolve(base_ref)
    rel = head_project.root.resolve().relative_to(repo.root)
    with tempfile.TemporaryDirectory(prefix="ai-clusters-diff-") as tmp_name:
        tmp = Path(tmp_name)
        with repo.checkout(sha, tmp / "base") as base_root:
            base_dir = base_root / rel
            base = Side("base", base_ref, sha, base_dir, own_code(base_root))
            head = Side("head", "work tree", None, head_project.root, own_code(repo.root))
            base_stacks = _stacks_of(base_dir)
            head_stacks = head_project.stacks()
            known = sorted(set(base_stacks) | set(head_stacks))
            changed = repo.changed_paths(sha)
            if stacks:
                unknown = [s for s in stacks if s not in known]
                if unknown:
                    raise DiffInputError(
                        f"stack {', '.join(repr(s) for s in unknown)} is in neither the work tree nor {base_ref}; stacks: {', '.join(known) or 'none'}"
                    )
                chosen = list(dict.fromkeys(stacks))
            else:
                chosen = touched_stacks(changed, head_project, repo.root, known)
            if chosen:
                _run_sides([base, head], chosen, tmp, policy)
            return DiffRun(base=base, head=head, stacks=chosen, changed_paths=changed)


def _stacks_of(project_dir: Path) -> list[str]:
    try:
        return find_project(project_dir).stacks()
    except PlanInputError:
        return []  # no project at that revision: every stack is new


def _run_sides(sides: list[Side], stacks: list[str], tmp: Path, policy: bool) -> None:
    """Run snapshot.py for every side at once; fill in each side's results."""
    running = []
    for side in sides:
        if not (side.project_dir / "Pulumi.yaml").is_file():
            side.results = {s: SideResult(absent=True) for s in stacks}
            continue
        env = dict(os.environ)
        if side.code is not None:
            importable = tmp / f"{side.name}-code"
            importable.mkdir()
            (importable / "ai_clusters").symlink_to(side.code, target_is_directory=True)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(importable), env.get("PYTHONPATH", "")) if p)
        output = tmp / f"{side.name}.json"
        command = [sys.executable, str(SNAPSHOT), "--project-dir", str(side.project_dir), "--output", str(output)]
        command += ([] if policy else ["--no-policy"]) + stacks
        # The working directory is the temporary folder: nothing of the caller's folder shadows a module.
        proc = subprocess.Popen(command, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        running.append((side, proc, output))
    for side, proc, output in running:
        try:
            _, stderr = proc.communicate(timeout=SIDE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
            stderr = f"planning took longer than {SIDE_TIMEOUT_S} s"
        if proc.returncode == 0 and output.is_file():
            doc = json.loads(output.read_text())
            side.code_ran = doc.get("code")
            side.results = {s: SideResult.from_json(doc["stacks"].get(s) or {"error": "not planned", "kind": "crash"}) for s in stacks}
        else:
            why = (stderr or "").strip().splitlines()[-12:]
            message = f"the {side.name} side could not be planned: " + ("\n".join(why) or f"exit code {proc.returncode}")
            side.results = {s: SideResult(error=message, kind="crash") for s in stacks}


__all__ = ["DiffInputError", "DiffRun", "Repository", "Side", "SideResult", "own_code", "plan_sides", "touched_stacks"]
