"""Read-only access to the Google APIs the pre-flight asks, through Google's own client libraries.

`GoogleCloud` holds one REST client per API service (created on first use, shared by the worker
threads), sends every request with the same retry policy (429 and 5xx answers and dropped connections
are retried with exponential backoff until the deadline) and turns every failure into an `ApiProblem`.
Each method is one logical request; list methods read every page.
"""

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar, Union

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.api_core.client_options import ClientOptions
from google.auth import credentials as ga_credentials
import requests

from ai_clusters.core.endpoints import Api, Connection, google_credentials
from ai_clusters.tooling.preflight.problems import ApiProblem, classify, no_credentials

T = TypeVar("T")

RETRIED = (
    gexc.TooManyRequests,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.ServiceUnavailable,
    gexc.GatewayTimeout,
    requests.exceptions.ConnectionError,
)


_AGGREGATED = {
    "machineTypes": ("MachineTypesClient", "compute.machineTypes.list", "machine_types"),
    "acceleratorTypes": ("AcceleratorTypesClient", "compute.acceleratorTypes.list", "accelerator_types"),
    "reservations": ("ReservationsClient", "compute.reservations.list", "reservations"),
}


@dataclass
class Zonal:
    """What an aggregatedList found, by zone, and the zones the API could not reach."""

    items: dict[str, Any] = field(default_factory=dict)
    unreachable: list[str] = field(default_factory=list)


class Unanswered(Exception):
    """A request that got no usable answer; `problem` says why."""

    def __init__(self, problem: ApiProblem):
        super().__init__(problem.line)
        self.problem = problem


def load_credentials(connection: Connection) -> ga_credentials.Credentials:
    """Application Default Credentials, or none when the connection is anonymous; Unanswered if missing."""
    from google.auth import exceptions as auth_exc

    try:
        return google_credentials(connection)
    except auth_exc.DefaultCredentialsError as exc:
        raise Unanswered(no_credentials(str(exc))) from None


class GoogleCloud:
    """The Compute Engine, Cloud TPU and Cloud Quotas APIs of one project, read-only."""

    def __init__(self, project: str, connection: Connection, credentials: ga_credentials.Credentials, *, pool_size: int = 16):
        self.project = project
        self.connection = connection
        self._credentials = credentials
        self._pool_size = pool_size
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.attempts = 0
        self._retry = gretry.Retry(
            predicate=gretry.if_exception_type(*RETRIED),
            initial=0.2,
            maximum=4.0,
            multiplier=2.0,
            timeout=connection.deadline,
            on_error=self._count_retry,
        )

    # --- plumbing -------------------------------------------------------------------------
    def _count_retry(self, _exc: BaseException) -> None:
        with self._count_lock:
            self.attempts += 1

    def _client(self, name: str, api: Api, factory: Callable[..., T]) -> T:
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                endpoint = self.connection.endpoint(api)
                options = ClientOptions(api_endpoint=endpoint) if endpoint else None
                client = factory(credentials=self._credentials, transport="rest", client_options=options)
                self._widen_pool(client)
                self._clients[name] = client
            return client

    def _widen_pool(self, client: Any) -> None:
        """Let every worker thread keep its connection (requests keeps 10 per host by default)."""
        session = getattr(getattr(client, "_transport", None), "_session", None)
        if isinstance(session, requests.Session):
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=self._pool_size)
            session.mount("https://", adapter)
            session.mount("http://", adapter)

    def _call(self, api: Api, permission: str, fn: Callable[..., T], **kwargs: Any) -> T:
        with self._count_lock:
            self.attempts += 1
        try:
            return fn(retry=self._retry, timeout=self.connection.attempt_timeout, **kwargs)
        except Exception as exc:  # every failure becomes one line, never a traceback
            raise Unanswered(
                classify(
                    exc,
                    api=api,
                    project=self.project,
                    permission=permission,
                    where=self.connection.describe(api),
                    deadline=self.connection.deadline,
                )
            ) from None

    def _compute(self, name: str):
        from google.cloud import compute_v1

        return self._client(name, Api.COMPUTE, getattr(compute_v1, name))

    def _tpu(self):
        from google.cloud import tpu_v2

        return self._client("TpuClient", Api.TPU, tpu_v2.TpuClient)

    def _quotas(self):
        from google.cloud import cloudquotas_v1

        return self._client("CloudQuotasClient", Api.QUOTAS, cloudquotas_v1.CloudQuotasClient)

    def open(self, apis: "set[Api]") -> None:
        """Create the clients of these APIs now (importing google-cloud-compute alone takes seconds)."""
        if Api.COMPUTE in apis:
            self._compute("MachineTypesClient")
        if Api.TPU in apis:
            self._tpu()
        if Api.QUOTAS in apis:
            self._quotas()

    # --- Compute Engine -------------------------------------------------------------------
    def machine_type(self, zone: str, name: str):
        client = self._compute("MachineTypesClient")
        return self._call(Api.COMPUTE, "compute.machineTypes.get", client.get, project=self.project, zone=zone, machine_type=name)

    def accelerator_type(self, zone: str, name: str):
        client = self._compute("AcceleratorTypesClient")
        return self._call(Api.COMPUTE, "compute.acceleratorTypes.get", client.get, project=self.project, zone=zone, accelerator_type=name)

    def region(self, region: str):
        client = self._compute("RegionsClient")
        return self._call(Api.COMPUTE, "compute.regions.get", client.get, project=self.project, region=region)

    def project_info(self):
        client = self._compute("ProjectsClient")
        return self._call(Api.COMPUTE, "compute.projects.get", client.get, project=self.project)

    def reservation(self, zone: str, name: str):
        client = self._compute("ReservationsClient")
        return self._call(Api.COMPUTE, "compute.reservations.get", client.get, project=self.project, zone=zone, reservation=name)

    def everywhere(self, kind: str, name: str) -> "Zonal":
        """One resource by name in every zone at once (aggregatedList, filtered by name): what each zone has, and the zones not reached."""
        client_name, permission, field = _AGGREGATED[kind]
        client = self._compute(client_name)
        request = {"project": self.project, "filter": f'name = "{name}"', "return_partial_success": True}

        def read(**kw: Any) -> Zonal:
            out = Zonal()
            for page in client.aggregated_list(**kw).pages:
                for scope, listed in page.items.items():
                    found = list(getattr(listed, field))
                    if found and scope.startswith("zones/"):
                        out.items[scope.split("/", 1)[1]] = found[0]
                out.unreachable.extend(u.split("/", 1)[-1] for u in page.unreachables)
            return out

        return self._call(Api.COMPUTE, permission, read, request=request)

    # --- Cloud TPU ------------------------------------------------------------------------
    def tpu_accelerator_types(self, zone: str) -> list:
        client = self._tpu()
        parent = f"projects/{self.project}/locations/{zone}"
        return self._call(Api.TPU, "tpu.acceleratortypes.list", lambda **kw: list(client.list_accelerator_types(**kw)), parent=parent)

    def tpu_runtime_versions(self, zone: str) -> list:
        client = self._tpu()
        parent = f"projects/{self.project}/locations/{zone}"
        return self._call(Api.TPU, "tpu.runtimeversions.list", lambda **kw: list(client.list_runtime_versions(**kw)), parent=parent)

    # --- Cloud Quotas ---------------------------------------------------------------------
    def quota_info(self, service: str, quota_id: str):
        client = self._quotas()
        name = f"projects/{self.project}/locations/global/services/{service}/quotaInfos/{quota_id}"
        return self._call(Api.QUOTAS, "cloudquotas.quotas.get", client.get_quota_info, name=name)


def answer(fn: Callable[[], T]) -> Union[T, ApiProblem]:
    """Run one request: its result, or the ApiProblem that explains why there is none."""
    try:
        return fn()
    except Unanswered as exc:
        return exc.problem

