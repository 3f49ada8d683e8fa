"""The distinct requests a pre-flight sends, and sending them concurrently.

A `Lookup` is one request, keyed by (API method, zone/region/service, name): however many clusters and
nodes need the same machine type in the same zone, it is asked once. `plan_lookups` lists the first
round (everything but the Cloud Quotas fallbacks), `quota_fallbacks` the second round (only the GPU quota
pools the Compute API does not list, and the TPU quotas), and `fetch` sends a round on a thread pool.
"""

from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Iterable, Optional, Union

from ai_clusters.core.catalog import Catalog
from ai_clusters.tooling.preflight.clients import GoogleCloud, answer
from ai_clusters.core.endpoints import Api
from ai_clusters.tooling.preflight.demand import Pool, StackDemand, gpu_quota_names, tpu_quota_names
from ai_clusters.tooling.preflight.problems import ApiProblem

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
        return cloud.quota_info(self.where, self.name)

    @property
    def api(self) -> Api:
        if self.method == Method.QUOTA_INFO:
            return Api.QUOTAS
        return Api.TPU if self.method in (Method.TPU_ACCELERATOR_TYPES, Method.TPU_RUNTIME_VERSIONS) else Api.COMPUTE

    def __str__(self) -> str:
        return f"{self.method.value} {self.where} {self.name}".strip()


def plan_lookups(demand: StackDemand) -> list[Lookup]:
    """The first round: one request per distinct machine type, accelerator, region, reservation, TPU zone."""
    wanted: dict[Lookup, None] = {}
    for m in demand.machines:
        wanted[Lookup(Method.MACHINE_TYPE, m.zone, m.machine_type)] = None
        if m.attached and m.gpu:
            wanted[Lookup(Method.ACCELERATOR_TYPE, m.zone, m.gpu)] = None
        if m.reservation:
            wanted[Lookup(Method.RESERVATION, m.zone, m.reservation)] = None
        elif m.shape is not None:
            wanted[Lookup(Method.REGION, m.region)] = None
            wanted[Lookup(Method.PROJECT, demand.project)] = None
    for t in demand.tpus:
        wanted[Lookup(Method.TPU_ACCELERATOR_TYPES, t.zone)] = None
        wanted[Lookup(Method.TPU_RUNTIME_VERSIONS, t.zone)] = None
    return list(wanted)


def gpu_fallback(cat: Catalog, gpu: str, pool: Pool) -> Optional[Lookup]:
    """The Cloud Quotas request that reads a GPU quota pool the Compute API does not list."""
    names = gpu_quota_names(cat, gpu)
    facts = cat.data.quotas
    if names is None or facts is None or pool == Pool.RESERVED:
        return None
    if pool == Pool.PREEMPTIBLE:
        return Lookup(Method.QUOTA_INFO, facts.compute_service, names.preemptible_quota_id) if names.preemptible_quota_id else None
    return Lookup(Method.QUOTA_INFO, facts.compute_service, facts.gpu_family_quota_id)


def gpu_metric(cat: Catalog, gpu: str, pool: Pool) -> Optional[str]:
    """The regions.get metric of a GPU quota pool, where the Compute API has one."""
    names = gpu_quota_names(cat, gpu)
    if names is None:
        return None
    return names.preemptible_metric if pool == Pool.PREEMPTIBLE else names.metric


def listed_metrics(region_answer: Answer) -> set[str]:
    if isinstance(region_answer, ApiProblem):
        return set()
    return {q.metric for q in region_answer.quotas}


def quota_fallbacks(demand: StackDemand, cat: Catalog, answers: dict[Lookup, Answer]) -> list[Lookup]:
    """The second round: Cloud Quotas requests for the pools regions.get did not list, and TPU quotas."""
    wanted: dict[Lookup, None] = {}
    facts = cat.data.quotas
    for m in demand.machines:
        if m.shape is None or m.pool == Pool.RESERVED or m.gpu is None:
            continue
        region_answer = answers.get(Lookup(Method.REGION, m.region))
        if isinstance(region_answer, ApiProblem):
            continue
        metric = gpu_metric(cat, m.gpu, m.pool)
        if metric and metric in listed_metrics(region_answer):
            continue
        fallback = gpu_fallback(cat, m.gpu, m.pool)
        if fallback is not None:
            wanted[fallback] = None
    for t in demand.tpus:
        names = tpu_quota_names(cat, t.slice.generation.id)
        if names is None or facts is None or t.pool == Pool.RESERVED:
            continue
        quota_id = names.preemptible_quota_id if t.pool == Pool.PREEMPTIBLE else names.quota_id
        if quota_id:
            wanted[Lookup(Method.QUOTA_INFO, facts.tpu_service, quota_id)] = None
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
