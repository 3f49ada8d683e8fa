"""The checks: what the stack needs, held against what Google Cloud answered.

Pure functions (no network): `evaluate(demand, answers, cluster_order)` returns one `Check` per cluster and
question. Quotas and reservations are shared, so they are summed over every cluster of the stack that
draws on them, and each of those clusters gets the same verdict with the stack's total.
"""

import difflib
from collections import defaultdict
from typing import Any, Callable, Iterable, Optional, TypeVar

from ai_clusters.core.catalog import one_of, region_of
from ai_clusters.tooling.preflight.lookups import Lookup, Method, quota_lookup
from ai_clusters.tooling.preflight.demand import MachineDemand, QuotaNeed, StackDemand, TpuDemand
from ai_clusters.tooling.preflight.model import Check, CheckKind, Status
from ai_clusters.tooling.preflight.problems import ApiProblem
from ai_clusters.tooling.preflight.quotas import QuotaReading, source_reading
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
    for m in {(m.cluster, m.zone, m.machine_type): m for m in demand.machines}.values():
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
    for m in {(m.cluster, m.zone, m.gpu, m.shape.gpus if m.shape else 0): m for m in demand.machines}.values():
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


# --- quotas -------------------------------------------------------------------------------------

def read_need(need: QuotaNeed, project: str, answers: Answers) -> "QuotaReading | ApiProblem | str":
    """The first source that holds the need's quota; else the problem that kept it, or why no source holds it."""
    reasons = []
    for source in need.sources:
        answer = answers.get(quota_lookup(source, need, project))
        if answer is None:
            reasons.append(f"{source.name} was not read")
            continue
        outcome = source_reading(source, need, answer)
        if not isinstance(outcome, str):
            return outcome
        reasons.append(outcome)
    return "; ".join(reasons)


def _amount(n: float, unit: str) -> str:
    return f"{n:g} {unit[:-1] if n == 1 and unit.endswith('s') else unit}"


def _where(need: QuotaNeed) -> str:
    return need.what if need.scope == "project" else f"{need.what} quota in {need.location}"


def _request(need: QuotaNeed, reading: QuotaReading, needed: float) -> str:
    want = needed + (reading.usage or 0.0)
    place = "" if need.scope == "project" else f" in {need.location}"
    return ", ".join([f"request {reading.name.split(' ')[0]} of at least {want:g}{place} (IAM & Admin > Quotas, or the Cloud Quotas API)", *need.hints])


def quota_checks(demand: StackDemand, answers: Answers, notes: list[str]) -> list[Check]:
    """Every quota the stack draws on, summed over the clusters that share it; unconfirmed ones become notes."""
    out = []
    for members in _group(demand.quotas, lambda n: n.pool_key).values():
        need = members[0]
        by_cluster: dict[str, int] = defaultdict(int)
        for n in members:
            by_cluster[n.cluster] += n.amount
        needed = sum(by_cluster.values())
        head = f"{_where(need)}: the stack needs {_amount(needed, need.unit)}{_breakdown(list(by_cluster.items()))}"
        if need.unchecked:
            notes.append(f"{', '.join(by_cluster)}: {_where(need)}: not checked: {need.unchecked}")
            continue
        reading = read_need(need, demand.project, answers)
        for cluster in by_cluster:
            if isinstance(reading, ApiProblem):
                out.append(_unknown(cluster, need.kind, need.location, reading, needed=needed))
            elif isinstance(reading, str):
                out.append(Check(cluster, need.kind, need.location, Status.UNKNOWN, f"{head}; {reading}", needed=needed))
            elif reading.free is None or needed <= reading.free:
                out.append(Check(cluster, need.kind, need.location, Status.OK, f"{head}; {reading.describe()}", needed=needed, available=reading.free))
            else:
                message = f"{head}; {reading.describe()}: {_request(need, reading, needed)}"
                held = f"limit {reading.limit:g}" if reading.usage is None else f"{reading.free:g} free of {reading.limit:g}"
                short = f"{_where(need)}: {_amount(needed - reading.free, need.unit)} short of {needed} ({reading.name}: {held})"
                out.append(Check(cluster, need.kind, need.location, Status.FAIL, message, needed=needed, available=reading.free, short=short))
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


# --- all of them --------------------------------------------------------------------------------

_KIND_ORDER = {kind: i for i, kind in enumerate(CheckKind)}


def evaluate(demand: StackDemand, answers: Answers, cluster_order: list[str]) -> tuple[list[Check], list[str]]:
    """Every check of the stack, in stack order then check order, and the notes on what was not checked."""
    notes = list(demand.notes)
    checks = [
        *machine_checks(demand, answers),
        *accelerator_checks(demand, answers),
        *reservation_checks(demand, answers),
        *tpu_listing_checks(demand, answers),
        *quota_checks(demand, answers, notes),
    ]
    rank = {name: i for i, name in enumerate(cluster_order)}
    checks.sort(key=lambda c: (rank.get(c.cluster, len(rank)), _KIND_ORDER[c.kind]))
    return checks, notes
