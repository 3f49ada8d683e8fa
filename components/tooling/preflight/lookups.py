"""The distinct requests a pre-flight sends, and sending them concurrently.

A `Lookup` is one request, keyed by (API method, zone/region/service, name): however many clusters and
nodes need the same machine type in the same zone, it is asked once. `plan_lookups` lists the first
round (machine types, reservations, TPU listings and the first place each quota is read),
`next_quota_lookups` the rounds after it (the next source of a quota the previous one did not list: a
Cloud Quotas id for a GPU pool regions.get leaves out), and `fetch` sends a round on a thread pool.
"""

from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Iterable, Optional, Union

from ai_clusters.tooling.preflight.clients import GoogleCloud, answer
from ai_clusters.core.endpoints import Api
from ai_clusters.tooling.preflight.demand import QuotaNeed, QuotaSource, StackDemand
from ai_clusters.tooling.preflight.problems import ApiProblem
from ai_clusters.tooling.preflight.quotas import source_reading

Answer = Union[Any, ApiProblem]
Progress = Callable[[int, int], None]  # (done, total)


class Method(str, Enum):
    MACHINE_TYPE = "compute machineTypes.get"
    ACCELERATOR_TYPE = "compute acceleratorTypes.get"
    REGION = "compute regions.get"
    PROJECT = "compute projects.get"
    RESERVATION = "compute reservations.get"
    TPU_ACCELERATOR_TYPES = "tpu acceleratorTypes.list"
    TPU_RUNTIME_VERSIONS = "tpu runtimeVersions.list"
    QUOTA_INFO = "cloudquotas quotaInfos.get"
    EVERYWHERE = "compute aggregatedList"  # where: "machineTypes", "acceleratorTypes" or "reservations"; name: the resource


@dataclass(frozen=True)
class Lookup:
    """One request: the method, where (zone, region, service or project) and what (a name or quota id)."""

    method: Method
    where: str
    name: str = ""

    def send(self, cloud: GoogleCloud) -> Any:
        m = self.method
        if m == Method.MACHINE_TYPE:
            return cloud.machine_type(self.where, self.name)
        if m == Method.ACCELERATOR_TYPE:
            return cloud.accelerator_type(self.where, self.name)
        if m == Method.REGION:
            return cloud.region(self.where)
        if m == Method.PROJECT:
            return cloud.project_info()
        if m == Method.RESERVATION:
            return cloud.reservation(self.where, self.name)
        if m == Method.TPU_ACCELERATOR_TYPES:
            return cloud.tpu_accelerator_types(self.where)
        if m == Method.TPU_RUNTIME_VERSIONS:
            return cloud.tpu_runtime_versions(self.where)
        if m == Method.EVERYWHERE:
            return cloud.everywhere(self.where, self.name)
        return cloud.quota_info(self.where, self.name)

    @property
    def api(self) -> Api:
        if self.method == Method.QUOTA_INFO:
            return Api.QUOTAS
        return Api.TPU if self.method in (Method.TPU_ACCELERATOR_TYPES, Method.TPU_RUNTIME_VERSIONS) else Api.COMPUTE

    def __str__(self) -> str:
        return f"{self.method.value} {self.where} {self.name}".strip()


def quota_lookup(source: QuotaSource, need: QuotaNeed, project: str) -> Lookup:
    """The request that reads one quota source for a need: regions.get, projects.get or Cloud Quotas quotaInfos.get."""
    if source.quota_id:
        return Lookup(Method.QUOTA_INFO, source.service, source.quota_id)
    if need.scope == "project":
        return Lookup(Method.PROJECT, project)
    return Lookup(Method.REGION, need.region)


def plan_lookups(demand: StackDemand) -> list[Lookup]:
    """The first round: one request per distinct machine type, accelerator, reservation, TPU zone and first quota source."""
    wanted: dict[Lookup, None] = {}
    for m in demand.machines:
        wanted[Lookup(Method.MACHINE_TYPE, m.zone, m.machine_type)] = None
        if m.attached and m.gpu:
            wanted[Lookup(Method.ACCELERATOR_TYPE, m.zone, m.gpu)] = None
        if m.reservation:
            wanted[Lookup(Method.RESERVATION, m.zone, m.reservation)] = None
    for t in demand.tpus:
        wanted[Lookup(Method.TPU_ACCELERATOR_TYPES, t.zone)] = None
        wanted[Lookup(Method.TPU_RUNTIME_VERSIONS, t.zone)] = None
    for need in demand.quotas:
        if need.sources:
            wanted[quota_lookup(need.sources[0], need, demand.project)] = None
    return list(wanted)


def next_quota_lookups(demand: StackDemand, answers: dict[Lookup, Answer]) -> list[Lookup]:
    """The next round: for every need whose sources asked so far do not hold its quota, the next source.

    A source holds the quota when its answer lists the metric (Compute) or has a value for the need's
    location (Cloud Quotas); an API problem other than 404 stops there (the check says why).
    """
    wanted: dict[Lookup, None] = {}
    for need in demand.quotas:
        for source in need.sources:
            lookup = quota_lookup(source, need, demand.project)
            if lookup not in answers:
                wanted[lookup] = None
                break
            outcome = source_reading(source, need, answers[lookup])
            if not isinstance(outcome, str):
                break
    return list(wanted)


def fetch(cloud: GoogleCloud, lookups: Iterable[Lookup], *, workers: int = 16, progress: Optional[Progress] = None, done_before: int = 0, total: Optional[int] = None) -> dict[Lookup, Answer]:
    """Send every lookup on a thread pool; each answer is the API's object or an ApiProblem."""
    lookups = list(lookups)
    total = total if total is not None else done_before + len(lookups)
    out: dict[Lookup, Answer] = {}
    if not lookups:
        return out
    done = done_before
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(lookups))), thread_name_prefix="preflight") as pool:
        futures = {pool.submit(answer, lambda lk=lk: lk.send(cloud)): lk for lk in lookups}
        for fut in as_completed(futures):
            out[futures[fut]] = fut.result()
            done += 1
            if progress is not None:
                progress(done, total)
    return out
