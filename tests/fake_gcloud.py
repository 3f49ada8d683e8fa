"""A fake Google Cloud on 127.0.0.1 for the pre-flight: the REST paths and JSON shapes the real APIs use.

It serves what Google's Python clients (google-cloud-compute, google-cloud-tpu, google-cloud-quotas)
ask for over REST, on one port (their paths do not overlap):

  GET /compute/v1/projects/P/zones/Z/machineTypes/M          compute#machineType
  GET /compute/v1/projects/P/zones/Z/acceleratorTypes/A      compute#acceleratorType
  GET /compute/v1/projects/P/regions/R                       compute#region with quotas[]
  GET /compute/v1/projects/P                                 compute#project with quotas[]
  GET /compute/v1/projects/P/zones/Z/reservations/N          compute#reservation
  GET /compute/v1/projects/P/aggregated/{machineTypes,acceleratorTypes,reservations}?filter=name = "N"
                                                             aggregated list: items by "zones/Z", unreachables
  GET /v2/projects/P/locations/Z/acceleratorTypes            Cloud TPU ListAcceleratorTypesResponse
  GET /v2/projects/P/locations/Z/runtimeVersions             Cloud TPU ListRuntimeVersionsResponse
  GET /v1/projects/P/locations/global/services/S/quotaInfos/Q  Cloud Quotas QuotaInfo

Unknown names answer 404 in Google's error format. Faults (status codes, for a number of requests or
forever) can be put on any path, every request is counted, and each answer can be delayed. Modes for
whole runs: `quota_everywhere(limit, metrics)` (every quota asked for has `limit`: plenty, or none with
0), `flaky` (each path first answers these statuses, e.g. 503 then 429) and `forbidden` (every request
answers 403 naming the permission Google checks for it).
"""

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable, Optional
from urllib.parse import parse_qs, urlsplit

STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def google_error(code: int, message: str, reason: str = "", details: Optional[list] = None) -> dict:
    """An error body as Google APIs send it (the Compute API also fills `errors`)."""
    body: dict[str, Any] = {"code": code, "message": message, "status": STATUS_NAMES.get(code, "UNKNOWN")}
    if reason:
        body["errors"] = [{"message": message, "domain": "global", "reason": reason}]
    if details:
        body["details"] = details
    return {"error": body}


def permission_denied(permission: str, resource: str) -> dict:
    return google_error(403, f"Required '{permission}' permission for '{resource}'", "forbidden")


def service_disabled(service: str, project: str, code: int = 403) -> dict:
    message = (
        f"{service} has not been used in project {project} before or it is disabled. Enable it by visiting "
        f"https://console.developers.google.com/apis/api/{service}/overview?project={project} then retry."
    )
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED", "domain": "googleapis.com", "metadata": {"service": service, "consumer": f"projects/{project}"}}
    return google_error(code, message, "accessNotConfigured", [info])


def permission_for(path: str) -> str:
    """The IAM permission Google checks for a read-only request on this path."""
    if "/quotaInfos/" in path:
        return "cloudquotas.quotas.get"
    if path.startswith("/v2/"):
        return f"tpu.{path.rsplit('/', 1)[-1].lower()}.list"
    parts = [p for p in path.split("/") if p]
    if "aggregated" in parts:
        return f"compute.{parts[-1]}.list"
    return f"compute.{'projects' if len(parts) == 4 else parts[-2]}.get"


class _Server(ThreadingHTTPServer):
    """Room in the listen backlog for every worker at once (socketserver's default is 5: the rest would be refused and retried)."""

    request_queue_size = 128
    daemon_threads = True


@dataclass
class Fault:
    pattern: re.Pattern
    status: int
    body: dict
    times: Optional[int]  # None: forever
    hits: int = 0


@dataclass
class FakeGoogleCloud:
    """State of the fake and its HTTP server (a context manager)."""

    project: str
    delay: float = 0.0
    machine_types: dict[tuple[str, str], dict] = field(default_factory=dict)
    accelerator_types: dict[tuple[str, str], dict] = field(default_factory=dict)
    region_quotas: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    project_quotas: dict[str, tuple[float, float]] = field(default_factory=dict)
    reservations: dict[tuple[str, str], dict] = field(default_factory=dict)
    quota_infos: dict[tuple[str, str], dict] = field(default_factory=dict)
    tpu_types: dict[str, list[dict]] = field(default_factory=dict)
    tpu_runtimes: dict[str, list[str]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    default_quota: Optional[float] = None  # every Cloud Quotas id asked for, and every metric in default_metrics, has this limit
    default_metrics: set[str] = field(default_factory=set)
    flaky: tuple[int, ...] = ()  # statuses each distinct path answers first, in order, before its real answer
    forbidden: bool = False  # every request answers 403 naming the permission it needs
    unreachable_zones: list[str] = field(default_factory=list)  # listed as `unreachables` by aggregatedList

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._flaky_hits: dict[str, int] = {}

    # --- what the fake offers -------------------------------------------------------------
    def offer_machine(self, zone: str, name: str, cpus: int = 8, gpus: Optional[tuple[str, int]] = None) -> None:
        body = {
            "kind": "compute#machineType",
            "id": str(abs(hash((zone, name))) % 10**12),
            "name": name,
            "description": f"{cpus} vCPUs",
            "guestCpus": cpus,
            "memoryMb": cpus * 4096,
            "zone": zone,
            "selfLink": f"https://www.googleapis.com/compute/v1/projects/{self.project}/zones/{zone}/machineTypes/{name}",
        }
        if gpus:
            body["accelerators"] = [{"guestAcceleratorType": gpus[0], "guestAcceleratorCount": gpus[1]}]
        self.machine_types[(zone, name)] = body

    def offer_accelerator(self, zone: str, name: str, max_cards: int) -> None:
        self.accelerator_types[(zone, name)] = {
            "kind": "compute#acceleratorType",
            "name": name,
            "description": name,
            "zone": zone,
            "maximumCardsPerInstance": max_cards,
            "selfLink": f"https://www.googleapis.com/compute/v1/projects/{self.project}/zones/{zone}/acceleratorTypes/{name}",
        }

    def set_region_quota(self, region: str, metric: str, limit: float, usage: float = 0) -> None:
        self.region_quotas.setdefault(region, {})[metric] = (limit, usage)

    def set_project_quota(self, metric: str, limit: float, usage: float = 0) -> None:
        self.project_quotas[metric] = (limit, usage)

    def add_reservation(self, zone: str, name: str, machine_type: str, count: int, in_use: int = 0, status: str = "READY", gpus: Optional[tuple[str, int]] = None) -> None:
        props: dict[str, Any] = {"machineType": machine_type}
        if gpus:
            props["guestAccelerators"] = [{"acceleratorType": gpus[0], "acceleratorCount": gpus[1]}]
        self.reservations[(zone, name)] = {
            "kind": "compute#reservation",
            "name": name,
            "zone": f"https://www.googleapis.com/compute/v1/projects/{self.project}/zones/{zone}",
            "status": status,
            "specificReservationRequired": True,
            "specificReservation": {"count": str(count), "inUseCount": str(in_use), "instanceProperties": props},
        }

    def set_quota_info(self, service: str, quota_id: str, metric: str, dimensions: list[str], values: list[tuple[dict, float, list[str]]]) -> None:
        """values: (dimensions, value, applicableLocations) per dimensionsInfo."""
        self.quota_infos[(service, quota_id)] = {
            "name": f"projects/{self.project}/locations/global/services/{service}/quotaInfos/{quota_id}",
            "quotaId": quota_id,
            "metric": metric,
            "service": service,
            "isPrecise": True,
            "containerType": "PROJECT",
            "dimensions": dimensions,
            "quotaDisplayName": quota_id,
            "metricDisplayName": metric,
            "dimensionsInfos": [{"dimensions": d, "details": {"value": str(int(v))}, "applicableLocations": locs} for d, v, locs in values],
        }

    def set_quota_value(self, service: str, quota_id: str, dimensions: dict, value: float, locations: Optional[list[str]] = None) -> None:
        """Set one dimensionsInfo of a quota (created on first use), replacing one with the same dimensions."""
        info = self.quota_infos.get((service, quota_id))
        values = [(d["dimensions"], float(d["details"]["value"]), d["applicableLocations"]) for d in info["dimensionsInfos"]] if info else []
        values = [v for v in values if v[0] != dimensions]
        where = locations if locations is not None else [v for k, v in dimensions.items() if k in ("region", "zone")]
        values.append((dimensions, value, where))
        self.set_quota_info(service, quota_id, f"{service}/{quota_id.lower()}", sorted({k for d, _, _ in values for k in d}), values)

    def give_quota(self, need: Any, source: Any, limit: float, usage: float = 0) -> None:
        """Put `limit` where the pre-flight reads one source of a `QuotaNeed`."""
        if source.metric and need.scope == "project":
            self.set_project_quota(source.metric, limit, usage)
        elif source.metric:
            self.set_region_quota(need.region, source.metric, limit, usage)
        else:
            self.set_quota_value(source.service, source.quota_id, {need.scope: need.location, **dict(source.dimensions)}, limit)

    def offer_tpu(self, zone: str, accelerator_type: str, topology: str, config_type: str = "") -> None:
        self.tpu_types.setdefault(zone, []).append(
            {
                "name": f"projects/{self.project}/locations/{zone}/acceleratorTypes/{accelerator_type}",
                "type": accelerator_type,
                "acceleratorConfigs": [{"type": config_type or accelerator_type.split("-")[0].upper(), "topology": topology}],
            }
        )

    def offer_runtime(self, zone: str, version: str) -> None:
        self.tpu_runtimes.setdefault(zone, []).append(version)

    def quota_everywhere(self, limit: float, metrics: Iterable[str]) -> None:
        """Answer every Cloud Quotas id asked for, and list these Compute metrics in regions.get and projects.get, at `limit`."""
        self.default_quota = limit
        self.default_metrics = set(metrics)

    def fail(self, path_regex: str, status: int, body: Optional[dict] = None, times: Optional[int] = None) -> None:
        """Answer `status` on matching paths, `times` times (None: forever), before the normal answer."""
        self.faults.append(Fault(re.compile(path_regex), status, body or google_error(status, f"fake {status}"), times))

    # --- bookkeeping ----------------------------------------------------------------------
    def count(self, fragment: str = "") -> int:
        with self._lock:
            return sum(1 for p in self.requests if fragment in p)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self, anonymous: bool = True) -> dict[str, str]:
        """The variables that point the pre-flight at this fake."""
        env = {
            "AI_CLUSTERS_COMPUTE_ENDPOINT": self.url,
            "AI_CLUSTERS_TPU_ENDPOINT": self.url,
            "AI_CLUSTERS_QUOTAS_ENDPOINT": self.url,
        }
        if anonymous:
            env["AI_CLUSTERS_ANONYMOUS_CREDENTIALS"] = "1"
        return env

    def __enter__(self) -> "FakeGoogleCloud":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                url = urlsplit(self.path)
                path = url.path
                with fake._lock:
                    fake.requests.append(path)
                if fake.delay:
                    time.sleep(fake.delay)
                status, body = fake.answer(path, parse_qs(url.query))
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (timeout tests)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- routing --------------------------------------------------------------------------
    def answer(self, path: str, query: Optional[dict[str, list[str]]] = None) -> tuple[int, dict]:
        if self.forbidden:
            return 403, permission_denied(permission_for(path), path.split("/v1/", 1)[-1].split("/v2/", 1)[-1])
        with self._lock:
            hits = self._flaky_hits.get(path, 0)
            if hits < len(self.flaky):
                self._flaky_hits[path] = hits + 1
                return self.flaky[hits], google_error(self.flaky[hits], f"fake flaky {self.flaky[hits]}")
            for fault in self.faults:
                if fault.pattern.search(path) and (fault.times is None or fault.hits < fault.times):
                    fault.hits += 1
                    return fault.status, fault.body
        p = re.escape(self.project)
        routes = [
            (rf"^/compute/v1/projects/{p}/zones/([^/]+)/machineTypes/([^/]+)$", lambda z, n: self.machine_types.get((z, n))),
            (rf"^/compute/v1/projects/{p}/zones/([^/]+)/acceleratorTypes/([^/]+)$", lambda z, n: self.accelerator_types.get((z, n))),
            (rf"^/compute/v1/projects/{p}/zones/([^/]+)/reservations/([^/]+)$", lambda z, n: self.reservations.get((z, n))),
            (rf"^/compute/v1/projects/{p}/aggregated/(machineTypes|acceleratorTypes|reservations)$", lambda kind: self._aggregated(kind, query or {})),
            (rf"^/compute/v1/projects/{p}/regions/([^/]+)$", self._region),
            (rf"^/compute/v1/projects/{p}$", self._project),
            (rf"^/v2/projects/{p}/locations/([^/]+)/acceleratorTypes$", self._tpu_types),
            (rf"^/v2/projects/{p}/locations/([^/]+)/runtimeVersions$", self._tpu_runtimes),
            (rf"^/v1/projects/{p}/locations/global/services/([^/]+)/quotaInfos/([^/]+)$", self._quota_info),
        ]
        for pattern, handler in routes:
            m = re.match(pattern, path)
            if m:
                body = handler(*m.groups())
                if body is not None:
                    return 200, body
                break
        resource = path.split("/v1/", 1)[-1].split("/v2/", 1)[-1]
        return 404, google_error(404, f"The resource '{resource}' was not found", "notFound")

    def _aggregated(self, kind: str, query: dict[str, list[str]]) -> dict:
        """machineTypes / acceleratorTypes / reservations aggregatedList, filtered by `name = "X"` as the pre-flight sends it."""
        wanted = re.fullmatch(r'\s*name\s*(?:=|eq)\s*"?([^"\s]+)"?\s*', (query.get("filter") or [""])[0])
        store = {"machineTypes": self.machine_types, "acceleratorTypes": self.accelerator_types, "reservations": self.reservations}[kind]
        items: dict[str, dict] = {}
        for (zone, name), body in sorted(store.items()):
            if wanted is None or wanted.group(1) == name:
                items.setdefault(f"zones/{zone}", {kind: []})[kind].append(body)
        if not items:
            items["zones/us-central1-a"] = {"warning": {"code": "NO_RESULTS_ON_PAGE", "message": "There are no results for scope 'zones/us-central1-a' on this page."}}
        return {"kind": f"compute#{kind[:-1]}AggregatedList", "id": f"projects/{self.project}/aggregated/{kind}", "items": items, "unreachables": list(self.unreachable_zones)}

    def _defaults(self, given: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        if self.default_quota is None:
            return given
        return {**{m: (self.default_quota, 0.0) for m in self.default_metrics}, **given}

    def _quota_info(self, service: str, quota_id: str) -> Optional[dict]:
        info = self.quota_infos.get((service, quota_id))
        if info is None and self.default_quota is not None:
            self.set_quota_info(service, quota_id, f"{service}/{quota_id.lower()}", [], [({}, self.default_quota, [])])
            info = self.quota_infos[(service, quota_id)]
        return info

    def _region(self, region: str) -> dict:
        quotas = [{"metric": m, "limit": lim, "usage": use} for m, (lim, use) in sorted(self._defaults(self.region_quotas.get(region, {})).items())]
        quotas.append({"metric": "CPUS", "limit": 2400.0, "usage": 12.0})
        return {"kind": "compute#region", "name": region, "status": "UP", "quotas": quotas}

    def _project(self) -> dict:
        quotas = [{"metric": m, "limit": lim, "usage": use} for m, (lim, use) in sorted(self._defaults(self.project_quotas).items())]
        quotas.append({"metric": "NETWORKS", "limit": 15.0, "usage": 1.0})
        return {"kind": "compute#project", "name": self.project, "quotas": quotas}

    def _tpu_types(self, zone: str) -> Optional[dict]:
        if zone not in self.tpu_types:
            return None
        return {"acceleratorTypes": self.tpu_types[zone]}

    def _tpu_runtimes(self, zone: str) -> Optional[dict]:
        if zone not in self.tpu_runtimes:
            return None
        return {"runtimeVersions": [{"name": f"projects/{self.project}/locations/{zone}/runtimeVersions/{v}", "version": v} for v in self.tpu_runtimes[zone]]}


def catalog_metrics(cat: Any) -> set[str]:
    """Every Compute Engine quota metric the catalog reads (GPU and GKE TPU pools, GPUs in all regions)."""
    facts = cat.data.quotas
    metrics = {facts.project_gpu_metric}
    for g in facts.gpus:
        metrics |= {m for m in (g.metric, g.preemptible_metric) if m}
    for t in facts.gke_tpus:
        for q in t.quotas:
            metrics |= {r.metric for r in (q.on_demand, q.preemptible) if r is not None and r.metric}
    return metrics


def offer_capacity(fake: FakeGoogleCloud, demand: Any, spare: int = 10_000) -> None:
    """Offer the machine types, GPUs, reservations (with `spare` VMs), TPU types and runtimes a `StackDemand` asks for."""
    for m in demand.machines:
        shape = m.shape
        gpus = (shape.gpu.compute_engine, shape.gpus) if shape is not None and not shape.attached else None
        fake.offer_machine(m.zone, m.machine_type, cpus=shape.vcpus if shape is not None else 8, gpus=gpus)
        if m.attached:
            fake.offer_accelerator(m.zone, m.gpu, max_cards=8)
        if m.reservation:
            fake.add_reservation(m.zone, m.reservation, m.machine_type, count=spare, gpus=(m.gpu, shape.gpus) if m.attached else None)
    for t in demand.tpus:
        fake.offer_tpu(t.zone, t.accelerator_type, t.slice.type.topology)
        fake.offer_runtime(t.zone, t.runtime_version)


def offer_everything(fake: FakeGoogleCloud, demand: Any, cat: Any, spare: int = 10_000) -> None:
    """Make the fake offer all a stack needs (a `StackDemand`), with `spare` quota and reservation room.

    Each quota is put where the pre-flight reads it first (a regions.get / projects.get metric, or a
    Cloud Quotas dimensionsInfo for the need's zone or region).
    """
    del cat  # the demand names every quota
    offer_capacity(fake, demand, spare)
    for need in demand.quotas:
        if need.sources:
            fake.give_quota(need, need.sources[0], spare)
