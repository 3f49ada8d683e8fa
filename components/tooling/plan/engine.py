"""Run the real Pulumi program of a stack under mocks and collect what it would create.

This is what `pulumi preview` does minus the cloud: the project's `__main__.py` runs with the
stack's configuration, every resource registration is recorded with its inputs and options, and
the stack's exports are resolved. No credentials, no Pulumi CLI, no network.
"""

import asyncio
import contextlib
import contextvars
import gc
import json
import logging
import os
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import yaml

from ai_clusters.core.spec import SpecError
from ai_clusters.core.strict_yaml import load_strict
from ai_clusters.tooling.plan.mocks import CloudMocks, RecordingMonitor, Registration



class PlanInputError(Exception):
    """The project or stack files cannot be read (exit code 2)."""


@dataclass
class Project:
    root: Path
    name: str
    stack_config_dir: Path
    main: Path

    def stack_file(self, stack: str) -> Path:
        return self.stack_config_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in self.stack_config_dir.glob("Pulumi.*.yaml"))


@dataclass
class ProgramRun:
    """What a mocked run of the program produced."""

    stack: str
    project: str
    config: dict[str, Any]
    registrations: list[Registration]
    exports: dict[str, Any] = field(default_factory=dict)
    component_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The outputs each component registered, by URN."""
    warnings: list[str] = field(default_factory=list)
    """What the program warned about (`pulumi.log.warn`), once each."""


def find_project(start: Optional[Path] = None) -> Project:
    """The Pulumi project at or above `start` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pulumi_yaml = folder / "Pulumi.yaml"
        if pulumi_yaml.is_file():
            doc = load_strict(pulumi_yaml.read_text()) or {}
            main = folder / (doc.get("main") or "") / "__main__.py" if not str(doc.get("main", "")).endswith(".py") else folder / doc["main"]
            return Project(
                root=folder,
                name=str(doc.get("name", folder.name)),
                stack_config_dir=folder / (doc.get("stackConfigDir") or "."),
                main=main,
            )
    raise PlanInputError(f"no Pulumi.yaml at or above {here}")




def _yaml_problem(where: str, exc: yaml.YAMLError) -> str:
    """`stacks/Pulumi.x.yaml:3:1: not valid YAML: …`, the file named instead of PyYAML's "<unicode string>"."""
    mark = getattr(exc, "problem_mark", None)
    at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark is not None else where
    problem = getattr(exc, "problem", None) or str(exc)
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None:
        problem += f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    elif context:
        problem += f" ({context})"
    return f"{at}: not valid YAML: {problem}"


def read_stack_config(project: Project, stack: str) -> dict[str, Any]:
    """The stack's configuration as the Pulumi CLI passes it: namespaced keys, structured values as JSON.

    PlanInputError names the file (and the line) when it cannot be read as a stack file."""
    path = project.stack_file(stack)
    if not path.is_file():
        known = ", ".join(project.stacks()) or "none"
        raise PlanInputError(f"stack {stack!r} has no file {_shown(path, project)}; stacks: {known}")
    where = _shown(path, project)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanInputError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise PlanInputError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    try:
        doc = load_strict(text)  # as the Pulumi CLI reads a stack file: a key given twice is an error
    except yaml.YAMLError as exc:
        raise PlanInputError(_yaml_problem(where, exc)) from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise PlanInputError(f"{where}: a stack file is a mapping with a `config:` key, not {_kind(doc)}")
    raw = doc.get("config")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PlanInputError(f"{where}: `config` must be a mapping of keys such as gcp:project and ai-clusters:clusters, not {_kind(raw)}")
    config: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key:
            raise PlanInputError(f"{where}: config key {key!r} is not a name such as gcp:project or ai-clusters:clusters")
        if value is None:
            continue  # `key:` left empty gives nothing, so a required key is reported as missing
        if isinstance(value, dict) and set(value) == {"secure"}:
            raise PlanInputError(f"{where}: {key} is a secret; the offline plan cannot decrypt secrets")
        full = key if ":" in key else f"{project.name}:{key}"
        config[full] = value if isinstance(value, str) else json.dumps(value, default=str) if _is_json(value) else str(value)
    return config


def _shown(path: Path, project: Project) -> str:
    """A path as the user knows it: relative to the project when it is inside."""
    try:
        return str(path.relative_to(project.root))
    except ValueError:
        return str(path)


def _is_json(value: Any) -> bool:
    """Whether a YAML value passes as JSON text (dates and binary pass as their text, like the CLI's)."""
    return value is None or isinstance(value, (dict, list, bool, int, float))


def _kind(value: Any) -> str:
    """`a list`, `a string` …: what a YAML value is, for messages."""
    names = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
    return names.get(type(value), f"a {type(value).__name__}")


def run_program(project: Project, stack: str, config: dict[str, Any]) -> ProgramRun:
    """Run the project's program under mocks in a fresh Pulumi runtime context."""

    def program() -> None:
        cwd = os.getcwd()
        sys.path.insert(0, str(project.root))
        try:
            os.chdir(project.root)
            runpy.run_path(str(project.main), run_name="__main__")
        finally:
            os.chdir(cwd)
            sys.path.remove(str(project.root))

    return run_mocked(program, project=project.name, stack=stack, config=config)


def run_mocked(program: Callable[[], Any], *, project: str = "ai-clusters", stack: str = "test", config: Optional[dict[str, Any]] = None) -> ProgramRun:
    """Run any Pulumi program function under the recording mocks, in a fresh runtime context.

    The cyclic garbage collector waits until the run is over: a plan is short-lived and allocates
    tens of thousands of Outputs, futures and tasks that would otherwise be scanned again and again.
    The run has an event loop of its own, closed when it ends: a loop left open is finalised when the
    interpreter exits, after its self-pipe socket may already be closed, and prints
    `Exception ignored in: BaseEventLoop.__del__ … Invalid file descriptor: -1`."""
    paused = gc.isenabled()
    gc.disable()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        with _no_source_positions():
            return contextvars.Context().run(_run, program, project, stack, dict(config or {}))
    finally:
        _close_loop(loop)
        if paused:
            gc.enable()


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Finish what is left on the run's loop (tasks, async generators, its thread pool), then close it.

    Afterwards there is no current loop; Pulumi makes a fresh one should anything await an Output later."""
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@contextlib.contextmanager
def _no_source_positions() -> Iterator[None]:
    """Pulumi walks and formats the whole Python stack of every resource it registers, for the engine's
    diagnostics; the mocks never read it, so the offline plan skips that work (the SDK's private hook is
    left alone when a release renames it)."""
    from pulumi.runtime import resource as sdk
    from pulumi.runtime.proto import source_pb2

    original = getattr(sdk, "_get_stack_trace", None)
    if original is None:
        yield
        return
    sdk._get_stack_trace = source_pb2.StackTrace  # an empty trace: no frames, no source position
    try:
        yield
    finally:
        sdk._get_stack_trace = original


def _run(program: Callable[[], Any], project: str, stack: str, config: dict[str, Any]) -> ProgramRun:
    import pulumi
    from pulumi.runtime import mocks, settings
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    gcp_project = str(config.get("gcp:project", "mock-project"))
    region = str(config.get("gcp:region", "us-central1"))
    monitor = RecordingMonitor(CloudMocks(gcp_project, region))
    set_all_config(dict(config))
    warnings = _WarningLog()
    mocks.set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor, logger=warnings.logger)
    try:
        _sync_await(run_pulumi_func(program))
        root = settings.get_root_resource()
        exports: dict[str, Any] = {}
        for key, value in (getattr(root, "outputs", None) or {}).items():
            exports[key] = _sync_await(_resolve(value))
    except pulumi.RunError as exc:
        raise SpecError([], str(exc)) from None
    except Exception as exc:
        found = _spec_error_in(exc)
        if found is None:
            raise
        raise found from None  # a check that could only run on an Output's value: bad input all the same
    finally:
        monitor.close()
    registrations = sorted(monitor.registrations, key=lambda r: r.urn)  # stable, whatever the RPC order
    return ProgramRun(
        stack=stack,
        project=project,
        config=config,
        registrations=registrations,
        exports=exports,
        component_outputs=dict(monitor.component_outputs),
        warnings=sorted(set(warnings.messages)),  # one order whatever order the components ran in
    )


class _WarningLog(logging.Handler):
    """Collects what the program logs as a warning (`pulumi.log.warn`), as `pulumi preview` would show it."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self.logger = logging.Logger("ai_clusters.plan.program", level=logging.WARNING)  # not the root logger: nothing printed
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _spec_error_in(exc: BaseException) -> Optional[SpecError]:
    """The SpecError an exception carries, however deep Pulumi wrapped it ("While processing input …")."""
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, SpecError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


async def _resolve(value: Any) -> Any:
    import pulumi

    return await pulumi.Output.from_input(value).future()
