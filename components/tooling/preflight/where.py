"""`ai-clusters where`: every zone and provisioning model where one cluster would fit now, cheapest first.

The candidates are the zones the catalog lists for the cluster's machine family or TPU generation
(or those of the regions asked for), times the provisioning models asked for. Each candidate is the
cluster resolved there by the stack's own checks (a model or zone the path cannot take says why), then
held against Google Cloud's answers like pre-flight does, with few requests for many zones: one
aggregatedList per machine type, accelerator or reservation for every zone, one regions.get per
region, one Cloud Quotas read per quota id (it holds every region's value), all concurrent. The
options that fit are ranked by the hourly list price of the cluster there; the stack edit that moves
the cluster to the best one comes with them.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ai_clusters.core.advisor import LATENCY_SAFE
from ai_clusters.core.catalog import Catalog, catalog, one_of, region_of
from ai_clusters.core.catalog.models import Price
from ai_clusters.core.enums import ClusterPath, ProvisioningModel
from ai_clusters.core.spec import ResolvedCluster, SpecError, load_environment
from ai_clusters.tooling.plan.engine import find_project, read_stack_config
from ai_clusters.tooling.preflight.checks import evaluate
from ai_clusters.core.endpoints import Api, Connection
from ai_clusters.tooling.preflight.demand import StackDemand, stack_demand
from ai_clusters.tooling.preflight.lookups import Lookup, Method, Progress, next_quota_lookups, plan_lookups
from ai_clusters.tooling.preflight.model import Check, Status
from ai_clusters.tooling.preflight.problems import ApiProblem, ProblemKind
from ai_clusters.tooling.preflight.runner import ask_google

MODELS = (ProvisioningModel.ON_DEMAND, ProvisioningModel.SPOT, ProvisioningModel.FLEX_START, ProvisioningModel.RESERVATION)
_EVERYWHERE = {Method.MACHINE_TYPE: "machineTypes", Method.ACCELERATOR_TYPE: "acceleratorTypes", Method.RESERVATION: "reservations"}


class WhereInputError(ValueError):
    """Bad input to `where` (exit code 2): the message names what is allowed."""


@dataclass
class Option:
    """The cluster in one zone with one provisioning model: whether Google Cloud would take it now, and at what list price."""

    zone: str
    provisioning: ProvisioningModel
    fits: bool
    hourly_usd: Optional[float]
    reasons: list[str] = field(default_factory=list)
    unknown: bool = False  # it could not be asked (a permission, an API, credentials)

    @property
    def region(self) -> str:
        return region_of(self.zone)

    def to_json(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "region": self.region,
            "provisioning": self.provisioning.value,
            "fits": self.fits,
            "hourly_usd": None if self.hourly_usd is None else round(self.hourly_usd, 4),
            "reasons": list(self.reasons),
        }


@dataclass
class WhereReport:
    """Every option of one cluster, fitting ones first by price, and the edit that moves the cluster to the best."""

    stack: str
    cluster: str
    project: str
    stack_file: str
    needed: dict[str, Any]
    current: tuple[str, ProvisioningModel]
    options: list[Option] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    edit: list[str] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0

    @property
    def best(self) -> Optional[Option]:
        return next((o for o in self.options if o.fits), None)

    @property
    def exit_code(self) -> int:
        """0 at least one option fits, 3 none fits but some could not be asked, 1 none fits."""
        if self.best is not None:
            return 0
        return 3 if any(o.unknown for o in self.options) or not self.options else 1

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "cluster": self.cluster, "needed": self.needed, "options": [o.to_json() for o in self.options]}


# --- the candidates -------------------------------------------------------------------------------

def _zones(cl: ResolvedCluster) -> list[str]:
    """The zones the catalog lists for every accelerator the cluster's nodes carry."""
    if cl.tpu is not None:
        return list(cl.tpu.generation.zones)
    shapes = cl.node_shapes or [cl.shape]
    return [z for z in shapes[0].zones if all(z in s.zones for s in shapes[1:])]


def candidate_zones(cl: ResolvedCluster, regions: Optional[list[str]]) -> list[str]:
    zones = _zones(cl)
    if not regions:
        return zones
    offered = list(dict.fromkeys(region_of(z) for z in zones))
    unknown = [r for r in regions if r not in offered]
    if unknown:
        what = cl.tpu.generation.name if cl.tpu is not None else cl.shape.family.name if cl.shape else cl.name
        raise WhereInputError(f"--regions: the catalog lists {what} in no zone of {', '.join(unknown)}; it lists {one_of(offered, 40)}")
    return [z for z in zones if region_of(z) in regions]


def candidate_models(cl: ResolvedCluster, asked: Optional[list[str]]) -> list[ProvisioningModel]:
    reservation = cl.spec.provisioning.reservation
    if asked is None:
        return [m for m in MODELS if m != ProvisioningModel.RESERVATION or reservation]
    allowed = {m.value: m for m in MODELS}
    bad = [a for a in asked if a not in allowed]
    if bad:
        raise WhereInputError(f"--provisioning: {', '.join(bad)} is not a provisioning model; use {one_of(allowed)}")
    if "reservation" in asked and not reservation:
        raise WhereInputError(f"--provisioning reservation: cluster {cl.name} names no reservation (provisioning: {{model: reservation, reservation: NAME}})")
    return [allowed[a] for a in dict.fromkeys(asked)]


def _provisioning(model: ProvisioningModel, reservation: Optional[str]) -> Any:
    return {"model": "reservation", "reservation": reservation} if model == ProvisioningModel.RESERVATION else model.value


def variant(config: dict, index: int, cl: ResolvedCluster, zone: str, model: ProvisioningModel) -> dict:
    """The stack reduced to this cluster, moved to `zone` with `model` (its machine type pinned, its GPU node sets moved too)."""
    out = dict(config)
    raw = _clusters(config)[index]
    out["gcp:region"] = region_of(zone)
    out["ai-clusters:zones"] = json.dumps([zone])
    raw["zone"] = zone
    raw["provisioning"] = _provisioning(model, cl.spec.provisioning.reservation)
    if cl.shape is not None and not raw.get("machineType"):
        raw["machineType"] = cl.shape.machine_type
    for node_set in _gpu_node_sets(raw, cl):
        node_set["provisioning"] = raw["provisioning"]
    out["ai-clusters:clusters"] = json.dumps([raw])
    return out


def _clusters(config: dict) -> list[dict]:
    """The stack's raw clusters (the configuration holds structured values as JSON, as Pulumi passes them)."""
    return json.loads(config["ai-clusters:clusters"])


def _gpu_node_sets(raw: dict, cl: ResolvedCluster) -> list[dict]:
    """The raw Slurm node sets of GPU nodes that set their own provisioning."""
    if cl.spec.path != ClusterPath.SLURM:
        return []
    gpu = {n.name for n in cl.plan.gpu_node_sets}
    return [n for n in (raw.get("slurm") or {}).get("nodeSets") or [] if n.get("name") in gpu and "provisioning" in n]


def _problems(exc: SpecError) -> list[str]:
    return [f"{p.path.removeprefix('clusters[0].')}: {p.message}" for p in exc.problems] or [str(exc)]


# --- asking Google Cloud --------------------------------------------------------------------------

def everywhere(lookups: list[Lookup]) -> list[Lookup]:
    """One aggregatedList per machine type, accelerator and reservation instead of a request per zone."""
    return list(dict.fromkeys(Lookup(Method.EVERYWHERE, _EVERYWHERE[lk.method], lk.name) if lk.method in _EVERYWHERE else lk for lk in lookups))


def spread(zones: list[str]):
    """Turn each aggregatedList answer into the per-zone answers the checks read."""
    method_of = {kind: method for method, kind in _EVERYWHERE.items()}

    def expand(got: dict[Lookup, Any]) -> dict[Lookup, Any]:
        out = dict(got)
        for lookup, ans in got.items():
            if lookup.method != Method.EVERYWHERE:
                continue
            for zone in zones:
                key = Lookup(method_of[lookup.where], zone, lookup.name)
                if isinstance(ans, ApiProblem):
                    out[key] = ans
                elif zone in ans.unreachable:
                    out[key] = ApiProblem(ProblemKind.UNAVAILABLE, Api.COMPUTE, f"the Compute Engine API could not reach {zone} for {lookup.name}; try again later")
                elif zone in ans.items:
                    out[key] = ans.items[zone]
                else:
                    out[key] = ApiProblem(ProblemKind.NOT_FOUND, Api.COMPUTE, f"{lookup.name} is not in {zone} (aggregatedList)")
        return out

    return expand


# --- prices ---------------------------------------------------------------------------------------

def _list_price(prices: dict[str, Price], region: str, model: ProvisioningModel) -> Optional[float]:
    """The region's own list price of the model (reservations bill at the on-demand rate); None if the catalog has none."""
    price = prices.get(region)
    if price is None:
        return None
    return {ProvisioningModel.SPOT: price.spot, ProvisioningModel.FLEX_START: price.flex_start}.get(model, price.on_demand)


def hourly_price(cl: ResolvedCluster, demand: StackDemand, cat: Catalog, model: ProvisioningModel) -> tuple[Optional[float], list[str]]:
    """The cluster's accelerators at full scale in its region at list prices, and what the figure leaves out."""
    region = cl.region
    missing = f"no {model.value} list price for {{}} in {region} in the catalog"
    if cl.tpu is not None:
        slices = cl.spec.tpu.slices if cl.spec.tpu else 1
        per_chip = _list_price(cat.tpu_generation(cl.tpu.generation.id).prices, region, model)
        if per_chip is None:
            return None, [missing.format(cl.tpu.generation.name)]
        return per_chip * cl.tpu.chips * slices, []
    nodes = [(m.shape, m.nodes) for m in demand.machines if m.shape is not None]
    notes = []
    if cl.spec.path == ClusterPath.VERTEX:
        plan = cl.plan
        replicas = sum(p.max_nodes for p in plan.pools if p.machine.accelerator) if plan.mode.value == "training" else plan.max_nodes
        nodes = [(cl.shape, replicas)]
        notes.append("priced at Compute Engine's rate; Vertex AI bills its own")
    total = 0.0
    for shape, count in nodes:
        if shape.attached:
            vm = _list_price(cat.n1_machines[shape.machine_type].prices, region, model)
            gpu = _list_price(cat.n1_gpus[shape.gpu.compute_engine].prices, region, model)
            each = None if vm is None or gpu is None else vm + gpu * shape.gpus
        else:
            each = _list_price(cat.machines[shape.machine_type][1].prices, region, model)
        if each is None:
            return None, [missing.format(shape.machine_type)]
        total += each * count
    return total, notes


# --- the options ----------------------------------------------------------------------------------

def _reasons(checks: list[Check]) -> list[str]:
    """Why an option does not fit: each failed check in a few words (a quota: which, and how much is missing)."""
    return [c.short or c.message if c.status == Status.FAIL else f"unknown: {c.message}" for c in checks if c.status != Status.OK]


def needed(cl: ResolvedCluster, demand: StackDemand) -> dict[str, Any]:
    """What the cluster needs wherever it goes (JSON `needed`)."""
    out: dict[str, Any] = {"path": cl.spec.path.value}
    if cl.tpu is not None:
        slices = cl.spec.tpu.slices if cl.spec.tpu else 1
        out.update(accelerator_type=cl.tpu.type.name, slices=slices, accelerators=cl.tpu.chips * slices, unit="TPU chips", hosts=cl.tpu.vms * slices)
        return out
    assert cl.shape is not None
    if cl.spec.path == ClusterPath.VERTEX:
        out.update(machine_type=cl.shape.machine_type, accelerator=cl.plan.machine.accelerator, nodes=None, unit="GPUs")
    else:
        out.update(machine_type=cl.shape.machine_type, accelerator=cl.shape.gpu.compute_engine, nodes=sum(m.nodes for m in demand.machines), unit="GPUs")
    out["accelerators"] = sum(q.amount for q in demand.quotas if q.kind.value == "quota")
    return out


def _order(o: Option) -> tuple:
    rank = 0 if o.fits else 1 if o.unknown else 2
    return (rank, o.hourly_usd is None, o.hourly_usd or 0.0, o.zone, MODELS.index(o.provisioning))


def find_where(
    stack: str,
    cluster: str,
    project_dir: Path = Path("."),
    *,
    regions: Optional[list[str]] = None,
    models: Optional[list[str]] = None,
    connection: Optional[Connection] = None,
    workers: int = 32,
    progress: Optional[Progress] = None,
    cat: Optional[Catalog] = None,
) -> WhereReport:
    """Where the stack's cluster would fit now. Bad input raises what `plan` raises, or WhereInputError."""
    project = find_project(project_dir)
    config = read_stack_config(project, stack)
    env = load_environment(config)
    names = [c.name for c in env.clusters]
    if cluster not in names:
        raise WhereInputError(f"--cluster: stack {stack} has no cluster {cluster!r}; its clusters: {one_of(names)}")
    index = names.index(cluster)
    cl = env.clusters[index]
    cat = cat or catalog()
    connection = connection or Connection.from_env()
    zones = candidate_zones(cl, regions)
    report = WhereReport(
        stack=stack, cluster=cluster, project=env.spec.project, stack_file=f"stacks/Pulumi.{stack}.yaml", needed={}, current=(cl.zone, cl.provisioning)
    )
    resolved: dict[tuple[str, ProvisioningModel], Any] = {}
    latency = cl.spec.workload.latency_ms
    for model in candidate_models(cl, models):
        if latency is not None and model not in LATENCY_SAFE:
            report.notes.append(f"{model.value}: a {latency} ms latency target keeps on-demand or reserved capacity (policy latency-bound-serving)")
            continue
        try:
            load_environment(variant(config, index, cl, cl.zone, model))
        except SpecError as exc:
            report.notes.append(f"{model.value}: not possible for this cluster: {'; '.join(_problems(exc))}")
            continue
        for zone in zones:
            try:
                resolved[(zone, model)] = load_environment(variant(config, index, cl, zone, model)).clusters[0]
            except SpecError as exc:
                report.options.append(Option(zone, model, fits=False, hourly_usd=None, reasons=_problems(exc)))
    demands = {key: stack_demand(env_v, cat) for key, env_v in ((k, _as_env(v, env)) for k, v in resolved.items())}
    report.needed = needed(cl, stack_demand(_as_env(cl, env), cat))
    first = everywhere([lk for d in demands.values() for lk in plan_lookups(d)])
    asked = ask_google(
        env.spec.project, first, lambda answers: [lk for d in demands.values() for lk in next_quota_lookups(d, answers)], connection,
        workers=workers, progress=progress, expand=spread(zones),
    )
    report.requests, report.seconds = asked.requests, asked.seconds
    for (zone, model), demand in demands.items():
        checks, notes = evaluate(demand, asked.answers, [cluster])
        unknown = not checks or any(c.status == Status.UNKNOWN for c in checks)
        fits = bool(checks) and all(c.status == Status.OK for c in checks)
        price, price_notes = hourly_price(resolved[(zone, model)], demand, cat, model)
        reasons = _reasons(checks) + [n.split(": ", 1)[1] for n in notes] + (price_notes if fits else [])
        report.options.append(Option(zone, model, fits=fits, hourly_usd=price, reasons=reasons, unknown=unknown and not fits))
    report.options.sort(key=_order)
    report.edit = stack_edit(report, config, index, cl)
    return report


def _as_env(cl: ResolvedCluster, env: Any) -> Any:
    """A one-cluster environment (the demand of a cluster alone)."""
    return type(env)(spec=env.spec, clusters=[cl])


# --- the edit -------------------------------------------------------------------------------------

def stack_edit(report: WhereReport, config: dict, index: int, cl: ResolvedCluster) -> list[str]:
    """YAML lines that move the cluster to the best option (empty when none fits or it is already there)."""
    best = report.best
    if best is None or (best.zone, best.provisioning) == report.current:
        return []
    clusters = _clusters(config)
    raw = clusters[index]
    lines = ["config:"]
    zones = json.loads(config.get("ai-clusters:zones") or "[]")
    if best.region != cl.region:
        others = [c["name"] for i, c in enumerate(clusters) if i != index]
        moved = f"; clusters {', '.join(others)} move with it" if others else ""
        lines += [f"  gcp:region: {best.region}          # was {cl.region}: the stack's network moves{moved}", f"  ai-clusters:zones: [{best.zone}]"]
    elif best.zone not in zones:
        lines.append(f"  ai-clusters:zones: [{', '.join([*zones, best.zone])}]")
    lines += ["  ai-clusters:clusters:", f"    - name: {cl.name}          # clusters[{index}]", f"      zone: {best.zone}"]
    if best.provisioning != report.current[1]:
        value = _provisioning(best.provisioning, cl.spec.provisioning.reservation)
        lines.append(f"      provisioning: {value if isinstance(value, str) else '{model: reservation, reservation: ' + value['reservation'] + '}'}")
        names = [n["name"] for n in _gpu_node_sets(raw, cl)]
        if names:
            lines.append(f"      # and provisioning: {best.provisioning.value} on its node sets {', '.join(names)}")
    if cl.shape is not None and not raw.get("machineType"):
        lines.append(f"      machineType: {cl.shape.machine_type}   # pinned: the advisor chose it for {cl.region}")
    return lines
