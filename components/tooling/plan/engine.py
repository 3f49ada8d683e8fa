"""Run the real Pulumi program of a stack under mocks and collect what it would create.

This is what `pulumi preview` does minus the cloud: the project's `__main__.py` runs with the
stack's configuration, every resource registration is recorded with its inputs and options, and
the stack's exports are resolved. No credentials, no Pulumi CLI, no network.
"""

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
from ai_clusters.tooling.plan.mocks import CloudMocks, RecordingMonitor, Registration

FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: the same result, faster


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
            doc = yaml.load(pulumi_yaml.read_text(), Loader=FAST_LOADER) or {}
            main = folder / (doc.get("main") or "") / "__main__.py" if not str(doc.get("main", "")).endswith(".py") else folder / doc["main"]
            return Project(
                root=folder,
                name=str(doc.get("name", folder.name)),
                stack_config_dir=folder / (doc.get("stackConfigDir") or "."),
                main=main,
            )
    raise PlanInputError(f"no Pulumi.yaml at or above {here}")


def read_stack_config(project: Project, stack: str) -> dict[str, Any]:
    """The stack's configuration as the Pulumi CLI passes it: namespaced keys, structured values as JSON."""
    path = project.stack_file(stack)
    if not path.is_file():
        known = ", ".join(project.stacks()) or "none"
        raise PlanInputError(f"stack {stack!r} has no file {path.relative_to(project.root)}; stacks: {known}")
    try:
        doc = yaml.load(path.read_text(), Loader=FAST_LOADER) or {}
    except yaml.YAMLError as exc:
        raise PlanInputError(f"{path.name} is not valid YAML: {exc}") from None
    raw = doc.get("config") or {}
    if not isinstance(raw, dict):
        raise PlanInputError(f"{path.name}: `config` must be a mapping")
    config: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            raise PlanInputError(f"{path.name}: {key} is a secret; the offline plan cannot decrypt secrets")
        full = key if ":" in key else f"{project.name}:{key}"
        config[full] = value if isinstance(value, str) else json.dumps(value)
    return config


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
    tens of thousands of Outputs, futures and tasks that would otherwise be scanned again and again."""
    paused = gc.isenabled()
    gc.disable()
    try:
        with _no_source_positions():
            return contextvars.Context().run(_run, program, project, stack, dict(config or {}))
    finally:
        if paused:
            gc.enable()


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
    except pulumi.RunError as exc:
        raise SpecError([], str(exc)) from None
    root = settings.get_root_resource()
    exports: dict[str, Any] = {}
    for key, value in (getattr(root, "outputs", None) or {}).items():
        exports[key] = _sync_await(_resolve(value))
    registrations = sorted(monitor.registrations, key=lambda r: r.urn)  # stable, whatever the RPC order
    return ProgramRun(
        stack=stack,
        project=project,
        config=config,
        registrations=registrations,
        exports=exports,
        component_outputs=dict(monitor.component_outputs),
        warnings=list(dict.fromkeys(warnings.messages)),
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


async def _resolve(value: Any) -> Any:
    import pulumi

    return await pulumi.Output.from_input(value).future()
