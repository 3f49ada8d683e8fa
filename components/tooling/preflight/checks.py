"""The checks: what the stack needs, held against what Google Cloud answered.

Pure functions (no network): `evaluate(demand, catalog, answers)` returns one `Check` per cluster and
question. Quotas and reservations are shared, so they are summed over every cluster of the stack that
draws on them, and each of those clusters gets the same verdict with the stack's total.
"""

import difflib
from collections import defaultdict
from typing import Any, Callable, Iterable, Optional, TypeVar

from ai_clusters.core.catalog import Catalog, one_of, region_of
from ai_clusters.core.enums import ProvisioningModel
from ai_clusters.tooling.preflight.lookups import Lookup, Method, gpu_fallback, gpu_metric
from ai_clusters.tooling.preflight.demand import MachineDemand, Pool, StackDemand, TpuDemand, gpu_quota_names, tpu_quota_names
from ai_clusters.tooling.preflight.model import Check, CheckKind, Status
from ai_clusters.tooling.preflight.problems import ApiProblem, ProblemKind
from ai_clusters.tooling.preflight.quotas import QuotaReading, cloud_quota, compute_metric
from ai_clusters.core.naming import last_segment

K = TypeVar("K")
D = TypeVar("D")
Answers = dict[Lookup, Any]


def _elsewhere(offered: Iterable[str], zone: str) -> str:
    offered = [z for z in offered if z != zone]
    same = [z for z in offered if region_of(z) == region_of(zone)]
    if same:
        return f"the catalog lists it in {one_of(same)} (set the cluster's `zone`)"
    if offered:
        return f"the catalog lists it in no other zone of {region_of(zone)}; elsewhere in {one_of(offered, 6)}"
    return "the catalog lists no other zone for it"


def _group(items: Iterable[D], key: Callable[[D], K]) -> dict[K, list[D]]:
    out: dict[K, list[D]] = defaultdict(list)
    for item in items:
        out[key(item)].append(item)
    return out


def _breakdown(parts: list[tuple[str, int]]) -> str:
    if len(parts) < 2:
        return ""
    return " (" + " + ".join(f"{name} {n}" for name, n in parts) + ")"


def _about(answer: Any, name: str) -> bool:
    """Whether a 404 is about `name` itself (not about the project or the zone)."""
    return isinstance(answer, ApiProblem) and answer.not_found and name in answer.line


def _unknown(cluster: str, kind: CheckKind, where: str, problem: ApiProblem, needed: Optional[float] = None) -> Check:
    return Check(cluster, kind, where, Status.UNKNOWN, problem.line, needed=needed)


# --- machine and accelerator types ---------------------------------------------------------------

def machine_checks(demand: StackDemand, answers: Answers) -> list[Check]:
    out = []
    for m in demand.machines:
        ans = answers[Lookup(Method.MACHINE_TYPE, m.zone, m.machine_type)]
        if _about(ans, m.machine_type):
            out.append(Check(m.cluster, CheckKind.MACHINE_TYPE, m.zone, Status.FAIL, f"{m.machine_type} is not offered in {m.zone}; {_elsewhere(m.offered_in, m.zone)}"))
        elif isinstance(ans, ApiProblem):
            out.append(_unknown(m.cluster, CheckKind.MACHINE_TYPE, m.zone, ans))
        else:
            gpus = ", ".join(f"{a.guest_accelerator_count} x {a.guest_accelerator_type}" for a in ans.accelerators)
            what = f"{gpus}, {ans.guest_cpus} vCPUs" if gpus else f"{ans.guest_cpus} vCPUs"
            out.append(Check(m.cluster, CheckKind.MACHINE_TYPE, m.zone, Status.OK, f"{m.machine_type} is offered in {m.zone} ({what})"))
    return out


def accelerator_checks(demand: StackDemand, answers: Answers) -> list[Check]:
    out = []
    for m in demand.machines:
        if not m.attached or m.gpu is None or m.shape is None:
            continue
        per_vm = m.shape.gpus
        ans = answers[Lookup(Method.ACCELERATOR_TYPE, m.zone, m.gpu)]
        if _about(ans, m.gpu):
            out.append(Check(m.cluster, CheckKind.ACCELERATOR_TYPE, m.zone, Status.FAIL, f"{m.gpu} is not offered in {m.zone}; {_elsewhere(m.offered_in, m.zone)}", needed=per_vm, available=0))
        elif isinstance(ans, ApiProblem):
            out.append(_unknown(m.cluster, CheckKind.ACCELERATOR_TYPE, m.zone, ans, needed=per_vm))
        else:
            most = int(ans.maximum_cards_per_instance)
            if per_vm <= most:
                out.append(Check(m.cluster, CheckKind.ACCELERATOR_TYPE, m.zone, Status.OK, f"{m.gpu} is offered in {m.zone}, up to {most} per VM", needed=per_vm, available=most))
            else:
                out.append(
                    Check(
                        m.cluster, CheckKind.ACCELERATOR_TYPE, m.zone, Status.FAIL,
                        f"{m.zone} attaches at most {most} x {m.gpu} per VM, the cluster asks {per_vm}: use {most} per node and more nodes",
                        needed=per_vm, available=most,
                    )
                )
    return out


# --- reservations -------------------------------------------------------------------------------

def _reservation_misfit(res: Any, m: MachineDemand) -> Optional[str]:
    props = res.specific_reservation.instance_properties
    reserved = last_segment(props.machine_type) if props.machine_type else ""
    if reserved != m.machine_type:
        return f"reservation {res.name} reserves {reserved or 'no machine type'}, the cluster uses {m.machine_type}"
    if m.attached and m.shape is not None:
        accs = {(last_segment(a.accelerator_type), int(a.accelerator_count)) for a in props.guest_accelerators}
        if (m.gpu, m.shape.gpus) not in accs:
            held = ", ".join(f"{n} x {t}" for t, n in sorted(accs)) or "no GPUs"
            return f"reservation {res.name} reserves {held}, the cluster attaches {m.shape.gpus} x {m.gpu}"
    return None


def reservation_checks(demand: StackDemand, answers: Answers) -> list[Check]:
    out = []
    users = [m for m in demand.machines if m.reservation]
    for (zone, name), members in _group(users, lambda m: (m.zone, m.reservation)).items():
        ans = answers[Lookup(Method.RESERVATION, zone, name)]
        needed = sum(m.nodes for m in members)
        if _about(ans, name):
            for m in members:
                out.append(
                    Check(
                        m.cluster, CheckKind.RESERVATION, zone, Status.FAIL,
                        f"no reservation {name} in {zone} of project {demand.project}: reservations are zonal; create it there, "
                        "fix provisioning.reservation, or use flex-start",
                        needed=m.nodes, available=0,
                    )
                )
            continue
        if isinstance(ans, ApiProblem):
            out.extend(_unknown(m.cluster, CheckKind.RESERVATION, zone, ans, needed=needed) for m in members)
            continue
        sr = ans.specific_reservation
        if not sr.count and not sr.instance_properties.machine_type:
            out.extend(
                Check(m.cluster, CheckKind.RESERVATION, zone, Status.UNKNOWN, f"reservation {name} holds no specific VM properties (an aggregate reservation?); its capacity is not checked", needed=needed)
                for m in members
            )
            continue
        total, used = int(sr.count), int(sr.in_use_count)
        free = max(0, total - used)
        status = ans.status or "READY"
        share = _breakdown([(m.cluster, m.nodes) for m in members])
        for m in members:
            misfit = _reservation_misfit(ans, m)
            if misfit:
                out.append(Check(m.cluster, CheckKind.RESERVATION, zone, Status.FAIL, f"{misfit}: it cannot be consumed", needed=m.nodes, available=0))
            elif status != "READY":
                out.append(Check(m.cluster, CheckKind.RESERVATION, zone, Status.FAIL, f"reservation {name} is {status}, not READY", needed=needed, available=free))
            elif needed <= free:
                out.append(
                    Check(m.cluster, CheckKind.RESERVATION, zone, Status.OK, f"reservation {name}: the stack needs {needed} VM(s){share}, {free} of {total} free ({used} in use)", needed=needed, available=free)
                )
            else:
                out.append(
                    Check(
                        m.cluster, CheckKind.RESERVATION, zone, Status.FAIL,
                        f"reservation {name} has {free} of {total} VMs free ({used} in use), the stack needs {needed}{share}: "
                        "free some, have it resized, lower `nodes`, or use flex-start for the rest",
                        needed=needed, available=free,
                    )
                )
    return out


# --- GPU quotas ---------------------------------------------------------------------------------

def _regional_reading(cat: Catalog, m: MachineDemand, answers: Answers) -> "QuotaReading | ApiProblem | str":
    """The regional quota pool of a GPU demand, an ApiProblem, or why there is none (a string)."""
    assert m.gpu is not None
    region_answer = answers[Lookup(Method.REGION, m.region)]
    if isinstance(region_answer, ApiProblem):
        return region_answer
    metric = gpu_metric(cat, m.gpu, m.pool)
    if metric:
        reading = compute_metric(region_answer.quotas, metric, "regions.get")
        if reading is not None:
            return reading
    fallback = gpu_fallback(cat, m.gpu, m.pool)
    names = gpu_quota_names(cat, m.gpu)
    if fallback is None or names is None:
        return f"the catalog names no {m.pool.value} quota for {m.gpu}"
    ans = answers.get(fallback)
    if ans is None:
        return f"{fallback.name} was not read"
    nowhere = f"neither regions.get nor the Cloud Quotas API lists a {m.pool.value} {m.gpu} quota for {m.region}"
    if isinstance(ans, ApiProblem):
        return nowhere if ans.not_found else ans
    target = {"region": m.region} if m.pool == Pool.PREEMPTIBLE else {"region": m.region, "gpu_family": names.gpu_family}
    reading = cloud_quota(ans, target, m.region)
    return reading if reading is not None else nowhere


def _quota_advice(m: MachineDemand, reading: QuotaReading, needed: float) -> str:
    want = needed + (reading.usage or 0.0)
    advice = f"request {reading.name.split(' ')[0]} of at least {want:g} in {m.region} (IAM & Admin > Quotas, or the Cloud Quotas API)"
    offered = set(m.shape.provisioning) if m.shape is not None else set()
    if m.pool == Pool.STANDARD and ProvisioningModel.FLEX_START in offered:
        advice += ", or use flex-start (it draws on the preemptible quota)"
    elif m.pool == Pool.PREEMPTIBLE and ProvisioningModel.RESERVATION in offered:
        advice += ", or consume a reservation"
    return advice


def regional_quota_checks(demand: StackDemand, cat: Catalog, answers: Answers) -> list[Check]:
    out = []
    gpu_users = [m for m in demand.machines if m.gpu and m.pool != Pool.RESERVED]
    for (reg, gpu, pool), members in _group(gpu_users, lambda m: (m.region, m.gpu, m.pool)).items():
        needed = sum(m.gpus for m in members)
        share = _breakdown([(m.cluster, m.gpus) for m in members])
        reading = _regional_reading(cat, members[0], answers)
        for m in members:
            if isinstance(reading, ApiProblem):
                out.append(_unknown(m.cluster, CheckKind.QUOTA, reg, reading, needed=needed))
            elif isinstance(reading, str):
                out.append(Check(m.cluster, CheckKind.QUOTA, reg, Status.UNKNOWN, reading, needed=needed))
            else:
                free = reading.free
                head = f"{pool.value} {gpu} quota in {reg}: the stack needs {needed}{share}; {reading.describe()}"
                if free is None or needed <= free:
                    out.append(Check(m.cluster, CheckKind.QUOTA, reg, Status.OK, head, needed=needed, available=free))
                else:
                    out.append(Check(m.cluster, CheckKind.QUOTA, reg, Status.FAIL, f"{head}: {_quota_advice(m, reading, needed)}", needed=needed, available=free))
    return out


def project_quota_checks(demand: StackDemand, cat: Catalog, answers: Answers) -> list[Check]:
    facts = cat.data.quotas
    assert facts is not None
    users = [m for m in demand.machines if m.gpu and m.pool != Pool.RESERVED]
    if not users:
        return []
    needed = sum(m.gpus for m in users)
    share = _breakdown([(m.cluster, m.gpus) for m in users])
    ans = answers[Lookup(Method.PROJECT, demand.project)]
    metric = facts.project_gpu_metric
    out = []
    for m in users:
        if isinstance(ans, ApiProblem):
            out.append(_unknown(m.cluster, CheckKind.PROJECT_QUOTA, "global", ans, needed=needed))
            continue
        reading = compute_metric(ans.quotas, metric, "projects.get")
        if reading is None:
            out.append(Check(m.cluster, CheckKind.PROJECT_QUOTA, "global", Status.UNKNOWN, f"projects.get lists no {metric} quota for project {demand.project}", needed=needed))
        elif reading.free is not None and needed > reading.free:
            out.append(
                Check(
                    m.cluster, CheckKind.PROJECT_QUOTA, "global", Status.FAIL,
                    f"GPUs in all regions: the stack needs {needed}{share}; {reading.describe()}: request {metric} of at least {needed + (reading.usage or 0):g}",
                    needed=needed, available=reading.free,
                )
            )
        else:
            out.append(Check(m.cluster, CheckKind.PROJECT_QUOTA, "global", Status.OK, f"GPUs in all regions: the stack needs {needed}{share}; {reading.describe()}", needed=needed, available=reading.free))
    return out


# --- TPUs ---------------------------------------------------------------------------------------

def _tpu_zones(t: TpuDemand) -> str:
    return _elsewhere(t.slice.generation.zones, t.zone)


def _tpu_listing(t: TpuDemand, kind: CheckKind, method: Method, answers: Answers, nothing: str) -> "Check | list":
    """The zone's TPU listing, or the check that says why there is none."""
    ans = answers[Lookup(method, t.zone)]
    if isinstance(ans, ApiProblem) and ans.not_found:
        return Check(t.cluster, kind, t.zone, Status.FAIL, f"the Cloud TPU API offers {nothing} in {t.zone}; {_tpu_zones(t)}")
    if isinstance(ans, ApiProblem):
        return _unknown(t.cluster, kind, t.zone, ans)
    return ans


def _tpu_type(t: TpuDemand, listing: list) -> Check:
    kind, acc, topo = CheckKind.TPU_ACCELERATOR_TYPE, t.accelerator_type, t.slice.type.topology
    found = next((a for a in listing if a.type == acc or last_segment(a.name) == acc), None)
    if found is None:
        prefix = t.slice.generation.accelerator_type_prefix + "-"
        here = [a.type or last_segment(a.name) for a in listing if (a.type or last_segment(a.name)).startswith(prefix)]
        offered = f"offered here: {one_of(here)}" if here else f"no {t.slice.generation.name} type is offered here"
        return Check(t.cluster, kind, t.zone, Status.FAIL, f"{acc} is not offered in {t.zone} ({offered}); {_tpu_zones(t)}")
    topologies = sorted({c.topology for c in found.accelerator_configs if c.topology})
    if topologies and topo not in topologies:
        return Check(t.cluster, kind, t.zone, Status.FAIL, f"{acc} is offered in {t.zone} with topology {one_of(topologies)}, not {topo}")
    return Check(t.cluster, kind, t.zone, Status.OK, f"{acc} (topology {topo}) is offered in {t.zone}")


def _tpu_runtime(t: TpuDemand, listing: list) -> Check:
    kind = CheckKind.TPU_RUNTIME
    versions = sorted({rv.version or last_segment(rv.name) for rv in listing})
    if t.runtime_version in versions:
        return Check(t.cluster, kind, t.zone, Status.OK, f"runtime {t.runtime_version} is offered in {t.zone}")
    close = difflib.get_close_matches(t.runtime_version, versions, n=5, cutoff=0.5) or versions[:8]
    offered = f"closest offered: {one_of(close)}" if close else "the zone lists no runtime"
    return Check(t.cluster, kind, t.zone, Status.FAIL, f"runtime {t.runtime_version} is not offered in {t.zone} ({offered}): set tpu.runtimeVersion to one of them")


_TPU_LISTINGS = (
    (CheckKind.TPU_ACCELERATOR_TYPE, Method.TPU_ACCELERATOR_TYPES, "no accelerator type", _tpu_type),
    (CheckKind.TPU_RUNTIME, Method.TPU_RUNTIME_VERSIONS, "no runtime", _tpu_runtime),
)


def tpu_listing_checks(demand: StackDemand, answers: Answers) -> list[Check]:
    """The TPU accelerator type (and topology) and the runtime version, from the zone's listings."""
    out = []
    for t in demand.tpus:
        for kind, method, nothing, judge in _TPU_LISTINGS:
            listing = _tpu_listing(t, kind, method, answers, nothing)
            out.append(listing if isinstance(listing, Check) else judge(t, listing))
    return out


def tpu_quota_checks(demand: StackDemand, cat: Catalog, answers: Answers, notes: list[str]) -> list[Check]:
    facts = cat.data.quotas
    assert facts is not None
    out = []
    users = [t for t in demand.tpus if t.pool != Pool.RESERVED]
    for (zone, gen_id, pool), members in _group(users, lambda t: (t.zone, t.slice.generation.id, t.pool)).items():
        names = tpu_quota_names(cat, gen_id)
        gen = members[0].slice.generation
        quota_id = (names.preemptible_quota_id if pool == Pool.PREEMPTIBLE else names.quota_id) if names else None
        if not quota_id:
            notes.append(f"{gen.name} {pool.value} quota in {zone}: the catalog names no Cloud TPU quota id; not checked")
            continue
        ans = answers.get(Lookup(Method.QUOTA_INFO, facts.tpu_service, quota_id))
        if ans is None or (isinstance(ans, ApiProblem) and ans.kind in (ProblemKind.NOT_FOUND, ProblemKind.REJECTED)):
            notes.append(f"{gen.name} {pool.value} quota in {zone}: the Cloud Quotas API shows no {quota_id}; not checked")
            continue
        needed = sum(t.units for t in members)
        unit = members[0].unit
        if isinstance(ans, ApiProblem):
            out.extend(_unknown(t.cluster, CheckKind.TPU_QUOTA, zone, ans, needed=needed) for t in members)
            continue
        reading = cloud_quota(ans, {"zone": zone}, zone)
        if reading is None:
            notes.append(f"{gen.name} {pool.value} quota in {zone}: {quota_id} has no value for {zone}; not checked")
            continue
        share = _breakdown([(t.cluster, t.units) for t in members])
        head = f"{pool.value} {gen.name} quota in {zone}: the stack needs {needed} {unit}{share}; {reading.describe()}"
        for t in members:
            if reading.free is None or needed <= reading.free:
                out.append(Check(t.cluster, CheckKind.TPU_QUOTA, zone, Status.OK, head, needed=needed, available=reading.free))
            else:
                advice = f"request {quota_id} of at least {needed:g} in {zone}"
                if pool == Pool.STANDARD and ProvisioningModel.FLEX_START in gen.provisioning:
                    advice += ", or use flex-start"
                out.append(Check(t.cluster, CheckKind.TPU_QUOTA, zone, Status.FAIL, f"{head}: {advice}", needed=needed, available=reading.free))
    return out


# --- all of them --------------------------------------------------------------------------------

_KIND_ORDER = {kind: i for i, kind in enumerate(CheckKind)}


def evaluate(demand: StackDemand, cat: Catalog, answers: Answers, cluster_order: list[str]) -> tuple[list[Check], list[str]]:
    """Every check of the stack, in stack order then check order, and the notes on what was not checked."""
    notes = list(demand.notes)
    checks = [
        *machine_checks(demand, answers),
        *accelerator_checks(demand, answers),
        *reservation_checks(demand, answers),
        *regional_quota_checks(demand, cat, answers),
        *project_quota_checks(demand, cat, answers),
        *tpu_listing_checks(demand, answers),
        *tpu_quota_checks(demand, cat, answers, notes),
    ]
    rank = {name: i for i, name in enumerate(cluster_order)}
    checks.sort(key=lambda c: (rank.get(c.cluster, len(rank)), _KIND_ORDER[c.kind]))
    return checks, notes
