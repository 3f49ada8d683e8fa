"""Run a pre-flight of a stack: read it like `plan`, ask Google Cloud, hold the answers against it."""

import time
from pathlib import Path
from typing import Any, Callable, Optional

from ai_clusters.core.catalog import Catalog, catalog
from ai_clusters.tooling.plan.engine import find_project, read_stack_config
from ai_clusters.core.spec import load_environment
from ai_clusters.tooling.preflight.checks import evaluate
from ai_clusters.tooling.preflight.clients import GoogleCloud, Unanswered, load_credentials
from ai_clusters.tooling.preflight.connection import Api, Connection
from ai_clusters.tooling.preflight.demand import StackDemand, stack_demand
from ai_clusters.tooling.preflight.lookups import Lookup, Progress, fetch, next_quota_lookups, plan_lookups
from ai_clusters.tooling.preflight.model import PreflightReport


def check_demand(
    demand: StackDemand,
    connection: Connection,
    *,
    stack: str,
    cluster_order: list[str],
    workers: int = 16,
    progress: Optional[Progress] = None,
) -> PreflightReport:
    """Ask Google Cloud what the demand needs (concurrent rounds: everything, then the quotas a first source left out)."""
    first = plan_lookups(demand)
    started = time.perf_counter()
    try:
        credentials = load_credentials(connection)
    except Unanswered as exc:
        answers = ask_rounds(demand, first, lambda lookups, done: {lookup: exc.problem for lookup in lookups})
        requests = 0
    else:
        cloud = GoogleCloud(demand.project, connection, credentials, pool_size=workers)
        cloud.open({lookup.api for lookup in first} | {Api.QUOTAS})
        started = time.perf_counter()
        answers = ask_rounds(demand, first, lambda lookups, done: fetch(cloud, lookups, workers=workers, progress=progress, done_before=done))
        requests = cloud.attempts
    checks, notes = evaluate(demand, answers, cluster_order)
    return PreflightReport(stack=stack, project=demand.project, checks=checks, notes=notes, requests=requests, seconds=time.perf_counter() - started)


def ask_rounds(demand: StackDemand, first: list[Lookup], send: Callable[[list[Lookup], int], dict[Lookup, Any]]) -> dict[Lookup, Any]:
    """Send the first round, then each round of quota sources the answers call for, until none is left."""
    answers: dict[Lookup, Any] = {}
    lookups = first
    while lookups:
        answers.update(send(lookups, len(answers)))
        lookups = next_quota_lookups(demand, answers)
    return answers


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
    return check_demand(
        stack_demand(env, cat),
        connection,
        stack=stack,
        cluster_order=[cl.name for cl in env.clusters],
        workers=workers,
        progress=progress,
    )
