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

and the Cloud TPU queued resources the TPU VM path writes (google-cloud-tpu's v2 REST client, and the
v2alpha1 create a flex-start request needs), in the API's JSON shape:

  POST   /v2/projects/P/locations/Z/queuedResources?queuedResourceId=ID   -> google.longrunning.Operation
  POST   /v2alpha1/projects/P/locations/Z/queuedResources?queuedResourceId=ID
  GET    /v2/projects/P/locations/Z/queuedResources/ID   QueuedResource with state{state, stateInitiator, failedData}
  DELETE /v2/projects/P/locations/Z/queuedResources/ID?force=true          -> Operation
  GET    /v2/projects/P/locations/Z/operations/OP        Operation (done, with response or error)
  GET    /v2/projects/P/locations/Z/nodes/N              Node with networkEndpoints

A queued resource walks through the states a test scripts for it (one step per GET, then stays), makes
its nodes when it turns ACTIVE, and can be changed or removed behind the client's back.
and for `ai-clusters catalog refresh`, paged by `nextPageToken` (`page_size` entries a page):

  GET /compute/v1/projects/P/aggregated/machineTypes         compute#machineTypeAggregatedList, items keyed
  GET /compute/v1/projects/P/aggregated/acceleratorTypes     by zones/<zone> (empty zones carry a warning;
                                                             `filter=name eq "<regex>"` is applied)
  GET /v2/projects/P/locations                               Cloud TPU ListLocationsResponse
  GET /v1/services/S/skus                                    Cloud Billing ListSkusResponse

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

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
QUEUED_V2_FIELDS = {"name", "createTime", "tpu", "spot", "guaranteed", "queueingPolicy", "state", "reservationName"}
"""The v2 QueuedResource's JSON fields (google/cloud/tpu/v2/cloud_tpu.proto); v2alpha1 adds these:"""
QUEUED_V2ALPHA1_EXTRA = {"bestEffort", "provisioningModel", "runDuration"}


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
class FakeQueuedResource:
    """One queued resource the fake holds: the request as received, and where it is in its scripted states."""

    api_version: str
    body: dict
    script: list[dict]
    hosts: int
    step: int = 0
    deleting: int = -1  # GETs left answering DELETING; -1: not being deleted
    state_override: Optional[dict] = None


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
    tpu_zones: list[str] = field(default_factory=list)
    skus: dict[str, list[dict]] = field(default_factory=dict)
    zones: set[str] = field(default_factory=set)  # zones the aggregated lists answer for, beyond those offering something
    unreachable: set[str] = field(default_factory=set)
    """Zones the aggregated lists cannot reach: a warning under the zone, and listed in `unreachables`."""
    page_size: int = 50
    faults: list[Fault] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    calls: list[tuple[str, str, str, Any]] = field(default_factory=list)
    """Every request: method, path, query string, JSON body (None without one)."""
    queued: dict[tuple[str, str], FakeQueuedResource] = field(default_factory=dict)
    queued_scripts: dict[tuple[str, str], tuple[list[dict], int]] = field(default_factory=dict)
    tpu_nodes: dict[tuple[str, str], dict] = field(default_factory=dict)
    operations: dict[tuple[str, str], dict] = field(default_factory=dict)
    queries: list[dict] = field(default_factory=list)
    default_quota: Optional[float] = None  # every Cloud Quotas id asked for, and every metric in default_metrics, has this limit
    default_metrics: set[str] = field(default_factory=set)
    flaky: tuple[int, ...] = ()  # statuses each distinct path answers first, in order, before its real answer
    forbidden: bool = False  # every request answers 403 naming the permission it needs

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._flaky_hits: dict[str, int] = {}

    # --- what the fake offers -------------------------------------------------------------
    def offer_machine(self, zone: str, name: str, cpus: int = 8, gpus: Optional[tuple[str, int]] = None, memory_gb: Optional[float] = None) -> None:
        body = {
            "kind": "compute#machineType",
            "id": str(abs(hash((zone, name))) % 10**12),
            "name": name,
            "description": f"{cpus} vCPUs",
            "guestCpus": cpus,
            "memoryMb": int(round((memory_gb if memory_gb is not None else cpus * 4) * 1024)),
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

    def script_queued_resource(
        self, zone: str, queued_id: str, states: list[str], *, hosts: int = 1, error: Optional[tuple[int, str]] = None, initiator: str = "USER"
    ) -> None:
        """What a queued resource created later answers, one state per GET (then the last); FAILED carries `error` (code, message)."""
        script = []
        for name in states:
            state: dict[str, Any] = {"state": name, "stateInitiator": initiator}
            if name == "FAILED":
                code, message = error or (8, "fake failure")
                state["failedData"] = {"error": {"code": code, "message": message}}
            script.append(state)
        self.queued_scripts[(zone, queued_id)] = (script, hosts)

    def set_queued_state(self, zone: str, queued_id: str, state: str, initiator: str = "SERVICE") -> None:
        """Change a queued resource behind the client's back (preemption, the end of a flex-start run); SUSPENDED takes its nodes."""
        qr = self.queued[(zone, queued_id)]
        qr.state_override = {"state": state, "stateInitiator": initiator}
        if state in ("SUSPENDING", "SUSPENDED"):
            self._drop_nodes(zone, queued_id)

    def drop_queued_resource(self, zone: str, queued_id: str) -> None:
        """Delete a queued resource behind the client's back."""
        self.queued.pop((zone, queued_id), None)
        self._drop_nodes(zone, queued_id)

    def add_sku(self, service: str, description: str, group: str, regions: list[str], usd: float, unit: str = "h", usage: str = "OnDemand") -> None:
        """A Cloud Billing Catalog SKU with one price (USD per `unit`)."""
        skus = self.skus.setdefault(service, [])
        sku_id = f"{len(skus):04X}-FAKE-{abs(hash(description)) % 10000:04d}"
        units, nanos = int(usd), int(round((usd - int(usd)) * 1e9))
        skus.append(
            {
                "name": f"services/{service}/skus/{sku_id}",
                "skuId": sku_id,
                "description": description,
                "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute", "resourceGroup": group, "usageType": usage},
                "serviceRegions": regions,
                "pricingInfo": [
                    {
                        "summary": "",
                        "pricingExpression": {
                            "usageUnit": unit,
                            "displayQuantity": 1,
                            "tieredRates": [{"startUsageAmount": 0, "unitPrice": {"currencyCode": "USD", "units": str(units), "nanos": nanos}}],
                        },
                        "currencyConversionRate": 1,
                    }
                ],
                "serviceProviderName": "Google",
            }
        )

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
            "AI_CLUSTERS_BILLING_ENDPOINT": self.url,
        }
        if anonymous:
            env["AI_CLUSTERS_ANONYMOUS_CREDENTIALS"] = "1"
        return env

    def __enter__(self) -> "FakeGoogleCloud":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                query = parse_qs(url.query)
                with fake._lock:
                    fake.requests.append(url.path)
                    fake.calls.append((method, url.path, url.query, body))
                    fake.queries.append({"path": url.path, **{k: v[-1] for k, v in query.items()}})
                if fake.delay:
                    time.sleep(fake.delay)
                status, answer = fake.answer(url.path, method, query, body)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (timeout tests)

            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def do_DELETE(self) -> None:  # noqa: N802
                self._serve("DELETE")

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
    def answer(self, path: str, method: str = "GET", query: Optional[dict] = None, body: Any = None) -> tuple[int, dict]:
        """The status and JSON body for one request; `query` as `parse_qs` gives it (a list per name)."""
        raw_query = query or {}
        query = {k: v[-1] if isinstance(v, list) else v for k, v in raw_query.items()}
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
            if "/queuedResources" in path or "/operations/" in path or "/nodes/" in path:
                return self._cloud_tpu(path, method, raw_query, body)
        if method != "GET":
            return 404, google_error(404, f"no {method} here: {path}", "notFound")
        p = re.escape(self.project)
        routes = [
            (rf"^/compute/v1/projects/{p}/zones/([^/]+)/machineTypes/([^/]+)$", lambda z, n: self.machine_types.get((z, n))),
            (rf"^/compute/v1/projects/{p}/zones/([^/]+)/acceleratorTypes/([^/]+)$", lambda z, n: self.accelerator_types.get((z, n))),
            (rf"^/compute/v1/projects/{p}/zones/([^/]+)/reservations/([^/]+)$", lambda z, n: self.reservations.get((z, n))),
            (rf"^/compute/v1/projects/{p}/regions/([^/]+)$", self._region),
            (rf"^/compute/v1/projects/{p}$", self._project),
            (rf"^/v2/projects/{p}/locations/([^/]+)/acceleratorTypes$", self._tpu_types),
            (rf"^/v2/projects/{p}/locations/([^/]+)/runtimeVersions$", self._tpu_runtimes),
            (rf"^/v1/projects/{p}/locations/global/services/([^/]+)/quotaInfos/([^/]+)$", self._quota_info),
            (rf"^/compute/v1/projects/{p}/aggregated/(machineTypes|acceleratorTypes|reservations)$", lambda kind: self._aggregated(kind, query)),
            (rf"^/v2/projects/{p}/locations$", lambda: self._tpu_locations(query)),
            (r"^/v1/services/([^/]+)/skus$", lambda s: self._skus(s, query)),
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

    # --- Cloud TPU queued resources ---------------------------------------------------------
    def _cloud_tpu(self, path: str, method: str, query: dict, body: Any) -> tuple[int, dict]:
        """Queued resources, their operations and nodes (called with the lock held)."""
        p = re.escape(self.project)
        m = re.match(rf"^/(v2|v2alpha1)/projects/{p}/locations/([^/]+)/queuedResources(?:/([^/]+))?$", path)
        if m:
            version, zone, qid = m.groups()
            if method == "POST" and qid is None:
                return self._create_queued(version, zone, (query.get("queuedResourceId") or [""])[0], body or {})
            if qid is not None and version == "v2" and method == "GET":
                return self._get_queued(zone, qid)
            if qid is not None and version == "v2" and method == "DELETE":
                return self._delete_queued(zone, qid, (query.get("force") or ["false"])[0] == "true")
        m = re.match(rf"^/v2/projects/{p}/locations/([^/]+)/operations/([^/]+)$", path)
        if m and method == "GET" and (m.group(1), m.group(2)) in self.operations:
            return 200, self.operations[(m.group(1), m.group(2))]
        m = re.match(rf"^/v2/projects/{p}/locations/([^/]+)/nodes/([^/]+)$", path)
        if m and method == "GET" and (m.group(1), m.group(2)) in self.tpu_nodes:
            return 200, self.tpu_nodes[(m.group(1), m.group(2))]
        resource = path.split("/", 2)[-1]
        return 404, google_error(404, f"Resource '{resource}' was not found", "notFound")

    def _operation(self, zone: str, verb: str, target: str, version: str) -> dict:
        op_id = f"operation-{len(self.operations) + 1}"
        name = f"projects/{self.project}/locations/{zone}/operations/{op_id}"
        metadata = {
            "@type": f"type.googleapis.com/google.cloud.tpu.{version}.OperationMetadata",
            "createTime": "2026-12-04T00:00:00Z",
            "target": target,
            "verb": verb,
            "apiVersion": version,
        }
        done = {"name": name, "metadata": metadata, "done": True, "response": {"@type": "type.googleapis.com/google.protobuf.Empty"}}
        self.operations[(zone, op_id)] = done
        return {"name": name, "metadata": metadata, "done": False}

    def _create_queued(self, version: str, zone: str, qid: str, body: dict) -> tuple[int, dict]:
        allowed = QUEUED_V2_FIELDS | (QUEUED_V2ALPHA1_EXTRA if version == "v2alpha1" else set())
        unknown = sorted(set(body) - allowed)
        if unknown:
            return 400, google_error(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}" at \'queued_resource\': Cannot find field.')
        if not qid or not (body.get("tpu") or {}).get("nodeSpec"):
            return 400, google_error(400, "queued_resource_id and tpu.node_spec are required")
        if (zone, qid) in self.queued:
            return 409, google_error(409, f"Resource 'projects/{self.project}/locations/{zone}/queuedResources/{qid}' already exists")
        script, hosts = self.queued_scripts.get((zone, qid), ([{"state": "ACTIVE", "stateInitiator": "USER"}], 1))
        self.queued[(zone, qid)] = FakeQueuedResource(version, body, script, hosts)
        return 200, self._operation(zone, "create", f"projects/{self.project}/locations/{zone}/queuedResources/{qid}", version)

    def _get_queued(self, zone: str, qid: str) -> tuple[int, dict]:
        qr = self.queued.get((zone, qid))
        name = f"projects/{self.project}/locations/{zone}/queuedResources/{qid}"
        if qr is None:
            return 404, google_error(404, f"Resource '{name}' was not found", "notFound")
        if qr.deleting >= 0:
            if qr.deleting == 0:
                del self.queued[(zone, qid)]
                return 404, google_error(404, f"Resource '{name}' was not found", "notFound")
            qr.deleting -= 1
            state = {"state": "DELETING", "stateInitiator": "USER"}
        elif qr.state_override is not None:
            state = qr.state_override
        else:
            state = qr.script[min(qr.step, len(qr.script) - 1)]
            qr.step += 1
            if state["state"] == "ACTIVE":
                self._make_nodes(zone, qid, qr)
        return 200, {**qr.body, "name": name, "createTime": "2026-12-04T00:00:00Z", "state": state}

    def _delete_queued(self, zone: str, qid: str, force: bool) -> tuple[int, dict]:
        qr = self.queued.get((zone, qid))
        name = f"projects/{self.project}/locations/{zone}/queuedResources/{qid}"
        if qr is None:
            return 404, google_error(404, f"Resource '{name}' was not found", "notFound")
        if not force and any(n.get("queuedResource") == name for n in self.tpu_nodes.values()):
            return 400, google_error(400, f"queued resource {name} has nodes: delete them first or use force")
        qr.deleting = 1
        self._drop_nodes(zone, qid)
        return 200, self._operation(zone, "delete", name, "v2")

    def _make_nodes(self, zone: str, qid: str, qr: FakeQueuedResource) -> None:
        qr_name = f"projects/{self.project}/locations/{zone}/queuedResources/{qid}"
        for spec in qr.body["tpu"]["nodeSpec"]:
            multi = spec.get("multisliceParams") or spec.get("multiNodeParams")
            names = [f"{multi.get('nodeIdPrefix') or qid}-{i}" for i in range(int(multi["nodeCount"]))] if multi else [spec["nodeId"]]
            for node in names:
                if (zone, node) in self.tpu_nodes:
                    continue
                n = len(self.tpu_nodes)
                self.tpu_nodes[(zone, node)] = {
                    "name": f"projects/{self.project}/locations/{zone}/nodes/{node}",
                    "acceleratorType": spec["node"].get("acceleratorType", ""),
                    "runtimeVersion": spec["node"].get("runtimeVersion", ""),
                    "state": "READY",
                    "networkEndpoints": [{"ipAddress": f"10.{n}.0.{w + 2}", "port": 8470} for w in range(qr.hosts)],
                    "queuedResource": qr_name,
                    "multisliceNode": bool(multi),
                }

    def _drop_nodes(self, zone: str, qid: str) -> None:
        qr_name = f"projects/{self.project}/locations/{zone}/queuedResources/{qid}"
        for key in [k for k, n in self.tpu_nodes.items() if n.get("queuedResource") == qr_name]:
            del self.tpu_nodes[key]
    def _page(self, entries: list, query: dict, key: str) -> dict:
        """One page of `entries` after `pageToken`, with the next token while more remain."""
        size = min(int(query.get("maxResults") or query.get("pageSize") or self.page_size), self.page_size)
        start = int(query.get("pageToken") or 0)
        body: dict[str, Any] = {key: entries[start : start + size]}
        if start + size < len(entries):
            body["nextPageToken"] = str(start + size)
        return body

    def _aggregated(self, kind: str, query: dict) -> dict:
        """An aggregatedList of machineTypes, acceleratorTypes or reservations: items keyed by zones/<zone>, paged over
        the (zone, entry) pairs, filtered by `name = "X"` (pre-flight) or `name eq "<regex>"` (catalog refresh).
        The first page names every zone, as Google's does: a zone without entries carries a warning, an unreachable
        one too, and unreachable zones are also listed in `unreachables`."""
        store = {"machineTypes": self.machine_types, "acceleratorTypes": self.accelerator_types, "reservations": self.reservations}[kind]
        wanted = re.fullmatch(r'\s*name\s*(=|eq)\s*"?([^"]*?)"?\s*', query.get("filter", ""))

        def matches(name: str) -> bool:
            if wanted is None:
                return True
            op, value = wanted.groups()
            return name == value if op == "=" else re.fullmatch(value, name) is not None

        entries = [(z, body) for (z, n), body in sorted(store.items(), key=lambda kv: kv[0]) if matches(n)]
        page = self._page(entries, query, "entries")
        items: dict[str, Any] = {}
        for zone, body in page.pop("entries"):
            items.setdefault(f"zones/{zone}", {kind: []})[kind].append(body)
        if "pageToken" not in query:
            for zone in sorted(self.zones | {z for z, _ in store} | self.unreachable) or ["us-central1-a"]:
                if zone in self.unreachable:
                    items[f"zones/{zone}"] = {"warning": {"code": "UNREACHABLE", "message": f"zone {zone} is unreachable"}}
                else:
                    items.setdefault(
                        f"zones/{zone}", {"warning": {"code": "NO_RESULTS_ON_PAGE", "message": f"There are no results for scope 'zones/{zone}' on this page."}}
                    )
        return {
            "kind": f"compute#{kind[:-1]}AggregatedList",
            "id": f"projects/{self.project}/aggregated/{kind}",
            "items": items,
            **page,
            "unreachables": sorted(self.unreachable),
        }

    def _tpu_locations(self, query: dict) -> dict:
        locations = [{"name": f"projects/{self.project}/locations/{z}", "locationId": z} for z in self.tpu_zones]
        return self._page(locations, query, "locations")

    def _skus(self, service: str, query: dict) -> Optional[dict]:
        if service not in self.skus:
            return None
        return self._page(self.skus[service], query, "skus")

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
        if zone not in self.tpu_types and zone not in self.tpu_zones:
            return None
        return {"acceleratorTypes": self.tpu_types.get(zone, [])}

    def _tpu_runtimes(self, zone: str) -> Optional[dict]:
        if zone not in self.tpu_runtimes and zone not in self.tpu_zones:
            return None
        versions = self.tpu_runtimes.get(zone, [])
        return {"runtimeVersions": [{"name": f"projects/{self.project}/locations/{zone}/runtimeVersions/{v}", "version": v} for v in versions]}


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


def mirror_catalog(fake: FakeGoogleCloud, cat: Any, *, prices: bool = True) -> None:
    """Make the fake list exactly what the catalog says: machine types with their shapes in their zones,
    N1 GPUs, TPU types and runtimes per zone, and Billing SKUs at the catalog's disk, Cloud Storage and
    N1 GPU prices (machine-type prices are sums of several SKUs: a test adds those it needs)."""
    from ai_clusters.tooling.catalog_refresh.prices import COMPUTE_SERVICE, STORAGE_SERVICE

    for fam in cat.data.gpu_families:
        for mt in fam.machine_types:
            for zone in mt.zones or fam.zones:
                fake.offer_machine(zone, mt.name, cpus=mt.vcpus, memory_gb=mt.memory_gb, gpus=(fam.gpu.compute_engine, mt.gpus) if mt.gpus else None)
    for m in cat.data.n1_machine_types:
        fake.offer_machine("us-central1-a", m.name, cpus=m.vcpus, memory_gb=m.memory_gb)
    for gen in cat.data.tpu_generations:
        for host in gen.gke.machine_types if gen.gke else []:
            for zone in gen.zones:
                fake.offer_machine(zone, host.name, cpus=host.vcpus or 8, memory_gb=host.memory_gb)
        if cat.cloud_tpu(gen.id) is None:
            continue
        for zone in gen.zones:
            if zone not in fake.tpu_zones:
                fake.tpu_zones.append(zone)
            for t in gen.accelerator_types:
                fake.offer_tpu(zone, t.name, t.topology)
            for version in cat.tpu_runtimes(gen.id):
                fake.offer_runtime(zone, version)
    for gpu in cat.data.n1_attachable_gpus:
        for zone in gpu.zones:
            fake.offer_accelerator(zone, gpu.gpu.compute_engine, max_cards=max(gpu.counts))
        if prices and gpu.billing_gpu:
            for region, p in gpu.prices.items():
                if p.on_demand is not None:
                    fake.add_sku(COMPUTE_SERVICE, f"{gpu.billing_gpu} running in {region}", "GPU", [region], p.on_demand)
                if p.spot is not None:
                    fake.add_sku(COMPUTE_SERVICE, f"{gpu.billing_gpu} attached to Spot Preemptible VMs running in {region}", "GPU", [region], p.spot, usage="Preemptible")
    if not prices:
        return
    for disk in cat.data.storage.disks:
        for region, usd in disk.prices.items():
            fake.add_sku(COMPUTE_SERVICE, f"{disk.billing} in {region}", "SSD", [region], usd, unit="GiBy.mo")
    gcs = cat.data.storage.cloud_storage
    for region, usd in gcs.prices.items():
        fake.add_sku(STORAGE_SERVICE, f"{gcs.billing} {region}", "RegionalStorage", [region], usd, unit="GiBy.mo")
