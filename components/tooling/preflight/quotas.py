"""Reading one quota from what the APIs answered.

Compute Engine's regions.get and projects.get give limit and usage per metric. The Cloud Quotas API
gives a QuotaInfo whose dimensionsInfos hold the limit for dimension combinations (region, zone,
gpu_family …): the most specific one that matches wins, and it has no usage.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Optional

from ai_clusters.tooling.preflight.problems import ApiProblem

if TYPE_CHECKING:
    from ai_clusters.tooling.preflight.demand import QuotaNeed, QuotaSource


@dataclass(frozen=True)
class QuotaReading:
    """A quota's limit and, where the API shows it, its usage."""

    name: str
    limit: Optional[float]  # None: unlimited
    usage: Optional[float]  # None: not shown by the API (Cloud Quotas)
    source: str

    @property
    def free(self) -> Optional[float]:
        """What is left for the stack (None: unlimited)."""
        if self.limit is None:
            return None
        return max(0.0, self.limit - (self.usage or 0.0))

    def describe(self) -> str:
        if self.limit is None:
            return f"{self.name}: unlimited ({self.source})"
        if self.usage is None:
            return f"{self.name}: limit {self.limit:g} ({self.source} shows no usage: what already runs counts against it)"
        return f"{self.name}: {self.free:g} free (limit {self.limit:g}, in use {self.usage:g})"


def compute_metric(quotas: Any, metric: str, source: str) -> Optional[QuotaReading]:
    """A metric from a Compute Engine Region or Project answer's `quotas` list."""
    for q in quotas:
        if q.metric == metric:
            return QuotaReading(metric, float(q.limit), float(q.usage), source)
    return None


def cloud_quota(info: Any, target: Mapping[str, str], location: str) -> Optional[QuotaReading]:
    """The value of a QuotaInfo for the target dimensions: the most specific dimensionsInfo that matches."""
    best = None
    best_score = -1
    for di in info.dimensions_infos:
        dims = dict(di.dimensions)
        if any(target.get(k) != v for k, v in dims.items()):
            continue
        where = list(di.applicable_locations)
        if where and location not in where:
            continue
        if len(dims) > best_score:
            best, best_score = di, len(dims)
    if best is None:
        return None
    value = float(best.details.value)
    label = info.quota_id + "".join(f" {k}={v}" for k, v in sorted(target.items()) if k not in ("region", "zone"))
    return QuotaReading(label, None if value < 0 else value, None, "Cloud Quotas")


def source_reading(source: "QuotaSource", need: "QuotaNeed", answer: Any) -> "QuotaReading | ApiProblem | str":
    """What one source's answer says of a need's quota: a reading, the problem that kept it, or why it holds none (a string)."""
    if isinstance(answer, ApiProblem):
        if answer.not_found and source.quota_id:
            return f"the Cloud Quotas API knows no {source.quota_id} for {source.service}"
        return answer
    if source.metric:
        call = "projects.get" if need.scope == "project" else "regions.get"
        reading = compute_metric(answer.quotas, source.metric, call)
        where = "the project" if need.scope == "project" else need.location
        return reading if reading is not None else f"{call} lists no {source.metric} for {where}"
    target = {need.scope: need.location, **dict(source.dimensions)}
    reading = cloud_quota(answer, target, need.location)
    if reading is None:
        dims = "".join(f" {k}={v}" for k, v in source.dimensions)
        return f"{source.quota_id}{dims} has no value for {need.location}"
    return reading

