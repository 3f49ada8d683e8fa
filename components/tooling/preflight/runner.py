"""Run a pre-flight of a stack: read it like `plan`, ask Google Cloud, hold the answers against it."""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from ai_clusters.core.catalog import Catalog, catalog
from ai_clusters.tooling.plan.engine import find_project, read_stack_config
from ai_clusters.core.spec import load_environment
from ai_clusters.tooling.preflight.checks import evaluate
from ai_clusters.tooling.preflight.clients import GoogleCloud, Unanswered, load_credentials
from ai_clusters.core.endpoints import Api, Connection
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
    asked = ask_google(demand.project, plan_lookups(demand), lambda answers: next_quota_lookups(demand, answers), connection, workers=workers, progress=progress)
    checks, notes = evaluate(demand, asked.answers, cluster_order)
    return PreflightReport(stack=stack, project=demand.project, checks=checks, notes=notes, requests=asked.requests, seconds=asked.seconds)


@dataclass
class Asked:
    """Every answer (an API object or an ApiProblem) by request, how many requests it took and how long."""

    answers: dict[Lookup, Any]
    requests: int
    seconds: float


def ask_google(
    project: str,
    first: list[Lookup],
    next_round: Callable[[dict[Lookup, Any]], list[Lookup]],
    connection: Connection,
    *,
    workers: int = 16,
    progress: Optional[Progress] = None,
    expand: Callable[[dict[Lookup, Any]], dict[Lookup, Any]] = lambda got: got,
) -> Asked:
    """Send `first` concurrently, then each round `next_round` asks for, until it asks for nothing new.

    `expand` turns a round's answers into more (where: one aggregatedList into an answer per zone).
    Without credentials nothing is sent and every request is answered with that problem.
    """
    try:
        credentials = load_credentials(connection)
    except Unanswered as exc:
        problem = exc.problem
        send: Callable[[list[Lookup], int], dict[Lookup, Any]] = lambda lookups, done: {lookup: problem for lookup in lookups}
        cloud = None
    else:
        cloud = GoogleCloud(project, connection, credentials, pool_size=workers)
        cloud.open({lookup.api for lookup in first} | {Api.QUOTAS})
        send = lambda lookups, done: fetch(cloud, lookups, workers=workers, progress=progress, done_before=done)  # noqa: E731
    started = time.perf_counter()
    answers: dict[Lookup, Any] = {}
    lookups = first
    while lookups:
        answers.update(expand(send(lookups, len(answers))))
        lookups = [lookup for lookup in dict.fromkeys(next_round(answers)) if lookup not in answers]
    return Asked(answers, cloud.attempts if cloud is not None else 0, time.perf_counter() - started)


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
