"""Run a pre-flight of a stack: read it like `plan`, ask Google Cloud, hold the answers against it."""

import time
from pathlib import Path
from typing import Optional

from ..catalog import Catalog, catalog
from ..plan.engine import find_project, read_stack_config
from ..spec import load_environment
from .checks import evaluate
from .clients import GoogleCloud, Unanswered, load_credentials
from .connection import Connection
from .demand import stack_demand
from .lookups import Progress, fetch, plan_lookups, quota_fallbacks
from .model import PreflightReport


def run_preflight(
    stack: str,
    project_dir: Path = Path("."),
    *,
    connection: Optional[Connection] = None,
    workers: int = 16,
    progress: Optional[Progress] = None,
    cat: Optional[Catalog] = None,
) -> PreflightReport:
    """Check a stack against Google Cloud, read-only.

    Bad input raises what `plan` raises (PlanInputError, SpecError) or SettingsError for the endpoint
    variables; everything Google Cloud does not answer ends up in the report as `unknown` checks.
    """
    project = find_project(project_dir)
    env = load_environment(read_stack_config(project, stack))
    connection = connection or Connection.from_env()
    cat = cat or catalog()
    demand = stack_demand(env, cat)
    order = [cl.name for cl in env.clusters]
    started = time.perf_counter()
    first = plan_lookups(demand)
    requests = 0
    try:
        credentials = load_credentials(connection)
    except Unanswered as exc:
        answers = {lookup: exc.problem for lookup in first}
        answers.update({lookup: exc.problem for lookup in quota_fallbacks(demand, cat, answers)})
    else:
        cloud = GoogleCloud(env.spec.project, connection, credentials, pool_size=workers)
        answers = fetch(cloud, first, workers=workers, progress=progress)
        second = quota_fallbacks(demand, cat, answers)
        answers.update(fetch(cloud, second, workers=workers, progress=progress, done_before=len(first)))
        requests = cloud.attempts
    checks, notes = evaluate(demand, cat, answers, order)
    return PreflightReport(
        stack=stack,
        project=env.spec.project,
        checks=checks,
        notes=notes,
        requests=requests,
        seconds=time.perf_counter() - started,
    )
