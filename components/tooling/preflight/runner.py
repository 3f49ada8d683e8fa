"""Run a pre-flight of a stack: read it like `plan`, ask Google Cloud, hold the answers against it."""

import time
from pathlib import Path
from typing import Optional

from ai_clusters.core.catalog import Catalog, catalog
from ai_clusters.tooling.plan.engine import find_project, read_stack_config
from ai_clusters.core.spec import load_environment
from ai_clusters.tooling.preflight.checks import evaluate
from ai_clusters.tooling.preflight.clients import GoogleCloud, Unanswered, load_credentials
from ai_clusters.core.endpoints import Api, Connection
from ai_clusters.tooling.preflight.demand import StackDemand, stack_demand
from ai_clusters.tooling.preflight.lookups import Progress, fetch, plan_lookups, quota_fallbacks
from ai_clusters.tooling.preflight.model import PreflightReport


def check_demand(
    demand: StackDemand,
    connection: Connection,
    *,
    stack: str,
    cluster_order: list[str],
    cat: Catalog,
    workers: int = 16,
    progress: Optional[Progress] = None,
) -> PreflightReport:
    """Ask Google Cloud what the demand needs (two concurrent rounds) and check the answers."""
    first = plan_lookups(demand)
    requests = 0
    started = time.perf_counter()
    try:
        credentials = load_credentials(connection)
    except Unanswered as exc:
        answers = {lookup: exc.problem for lookup in first}
        answers.update({lookup: exc.problem for lookup in quota_fallbacks(demand, cat, answers)})
    else:
        cloud = GoogleCloud(demand.project, connection, credentials, pool_size=workers)
        cloud.open({lookup.api for lookup in first} | {Api.QUOTAS})
        started = time.perf_counter()
        answers = fetch(cloud, first, workers=workers, progress=progress)
        second = quota_fallbacks(demand, cat, answers)
        answers.update(fetch(cloud, second, workers=workers, progress=progress, done_before=len(first)))
        requests = cloud.attempts
    checks, notes = evaluate(demand, cat, answers, cluster_order)
    return PreflightReport(stack=stack, project=demand.project, checks=checks, notes=notes, requests=requests, seconds=time.perf_counter() - started)


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
        cat=cat,
        workers=workers,
        progress=progress,
    )
