"""A Cloud TPU queued resource as a Pulumi resource, made through google-cloud-tpu (a dynamic provider).

pulumi-gcp 10.2.0's `gcp.tpu.V2QueuedResource` carries only the accelerator type, runtime version,
description and network of a node: no labels, service account, metadata, Shielded VM, data disks,
tier (spot, reservation), queueing policy or multislice parameters. `TpuQueuedResource` carries the
whole request the Cloud TPU API accepts, as the API's own JSON (`queuedResource`, lowerCamelCase):

    tpu.nodeSpec[0]: parent, nodeId | multisliceParams{nodeCount, nodeIdPrefix} (v2alpha1: multiNodeParams),
                     node{acceleratorType | acceleratorConfig, runtimeVersion, description, labels, metadata,
                          serviceAccount{email, scope}, networkConfig{..., enableExternalIps: false},
                          shieldedInstanceConfig, dataDisks}
    spot{} | guaranteed{...} | reservationName, queueingPolicy{validUntilDuration},
    v2alpha1 only: provisioningModel FLEX_START + runDuration{maxRunDuration}

Why a dynamic provider and not a resource of the component package's provider: Pulumi's Python
provider host (`pulumi.provider`) serves components only (Construct, Call, Invoke); a custom
resource with its own create/read/diff/delete would need a hand-written gRPC resource provider. A
dynamic provider gives those operations in Python, next to the component that uses it. Its code runs
in the engine's `pulumi-python` dynamic provider plugin, which unpickles this class (dill, by
reference to this importable module) and so needs `ai_clusters` importable by the Python that runs
it: the program's virtualenv for a Python program (PULUMI_RUNTIME_VIRTUALENV); from another language
through the component package, a `python3` on PATH with ai-clusters installed.

The API calls: create, get, delete and the nodes' `get_node` go through google-cloud-tpu's v2 REST
client (`TpuClient(transport="rest")`). Flex-start is the one request the client cannot send: its
`provisioningModel` and `runDuration` exist only in the v2alpha1 API, whose google-cloud-tpu module
(1.27.0, and 1.28.0) has neither the fields nor a REST transport. That create is a POST of the same JSON
to `v2alpha1/.../queuedResources` with google-auth's AuthorizedSession, after every other field is
checked by parsing it into google-cloud-tpu's v2alpha1 `QueuedResource`; reading and deleting the
queued resource it made go through the v2 client like any other (one resource, two API versions).

Create waits for ACTIVE by polling `get_queued_resource` (which parses leniently, unlike the
long-running operation's strict parsing) and fails on FAILED, SUSPENDING or SUSPENDED with the
state's reason, or when the create timeout passes; a request that failed or timed out is deleted
first, so nothing is left that Pulumi does not know. Delete uses `force`: the nodes go with it.
Every node-spec input replaces the resource (the API has no update); a queued resource found FAILED
or SUSPENDED by a refresh (preempted spot, a flex-start run that ended) is replaced on the next up.
Endpoint and credentials follow `ai_clusters.core.endpoints`: `AI_CLUSTERS_TPU_ENDPOINT`, and
`AI_CLUSTERS_ANONYMOUS_CREDENTIALS=1` only with that endpoint overridden.
"""

import json
import time
from typing import Any, Mapping, Optional

import pulumi
import pulumi.dynamic as dynamic

from ai_clusters.core.accelerators import TPU_QUEUED_DYNAMIC
from ai_clusters.core.endpoints import Api, Connection, google_credentials

DEFAULT_ENDPOINT = "https://tpu.googleapis.com"
MULTISLICE_KEY = {"v2": "multisliceParams", "v2alpha1": "multiNodeParams"}
"""The node spec's multislice parameters, as each API version names them."""
V2ALPHA1_ONLY = {"provisioningModel": ("STANDARD", "SPOT", "RESERVATION_BOUND", "FLEX_START"), "runDuration": ("maxRunDuration", "terminationTime")}
"""v2alpha1 fields google-cloud-tpu's types lack (from gcloud's v2alpha1 messages): their allowed values or keys."""
REPLACING = ("project", "zone", "queuedResourceId", "apiVersion", "queuedResource")
"""Inputs whose change replaces the queued resource: the whole request (the API updates nothing)."""
GONE = ("FAILED", "SUSPENDING", "SUSPENDED")
"""States a queued resource never leaves for ACTIVE."""
OUTPUTS = ("name", "state", "stateInitiator", "nodeNames", "workerIps", "createTime")

assert TPU_QUEUED_DYNAMIC == "pulumi-python:dynamic/tpu:QueuedResource", "the marker rules and cost read"


class QueuedResourceError(Exception):
    """The queued resource did not become ACTIVE, or the API refused a request; the message says why."""


def parent_of(project: str, zone: str) -> str:
    return f"projects/{project}/locations/{zone}"


def node_names(body: Mapping[str, Any], queued_resource_id: str) -> list[str]:
    """The TPU nodes a request makes: its nodeId, or `<prefix>-0` … `<prefix>-(n-1)` (prefix: nodeIdPrefix, else the request's id)."""
    names = []
    for spec in (body.get("tpu") or {}).get("nodeSpec") or []:
        multi = spec.get("multisliceParams") or spec.get("multiNodeParams")
        if multi:
            prefix = multi.get("nodeIdPrefix") or queued_resource_id
            names += [f"{prefix}-{i}" for i in range(int(multi.get("nodeCount") or 0))]
        elif spec.get("nodeId"):
            names.append(str(spec["nodeId"]))
    return names


def typed_request(body: Mapping[str, Any], api_version: str) -> Any:
    """The request as google-cloud-tpu's QueuedResource of `api_version`; ValueError names what the API does not have.

    For v2alpha1 the two fields the client's types lack are checked against gcloud's v2alpha1 messages instead."""
    from google.cloud import tpu_v2, tpu_v2alpha1
    from google.protobuf.json_format import ParseError

    if api_version not in MULTISLICE_KEY:
        raise ValueError(f"apiVersion {api_version!r} is not one of v2, v2alpha1")
    rest = dict(body)
    if api_version == "v2alpha1":
        for key, allowed in V2ALPHA1_ONLY.items():
            value = rest.pop(key, None)
            if value is None:
                continue
            given = list(value) if isinstance(value, Mapping) else [value]
            bad = [v for v in given if v not in allowed]
            if bad:
                raise ValueError(f"{key}: {', '.join(map(str, bad))} is not one of {', '.join(allowed)}")
    elif any(key in rest for key in V2ALPHA1_ONLY):
        raise ValueError(f"{', '.join(k for k in V2ALPHA1_ONLY if k in rest)} exist only in the v2alpha1 API (apiVersion v2alpha1)")
    message = tpu_v2.QueuedResource if api_version == "v2" else tpu_v2alpha1.QueuedResource
    try:
        return message.from_json(json.dumps(rest))
    except ParseError as exc:
        raise ValueError(str(exc).split("\n", 1)[0]) from None


class QueuedResourceProvider(dynamic.ResourceProvider):
    """Create, read, diff and delete a Cloud TPU queued resource (see the module's docstring)."""

    serialize_as_secret_always = False  # the provider captures no secret: its pickle stays readable in state

    def __init__(self, poll_seconds: float = 30.0, delete_timeout_seconds: float = 1800.0):
        self.poll_seconds = poll_seconds
        self.delete_timeout_seconds = delete_timeout_seconds

    # --- the Cloud TPU API ------------------------------------------------------------------
    def _connection(self) -> Connection:
        return Connection.from_env(apis=(Api.TPU,))

    def _client(self, connection: Connection) -> Any:
        from google.api_core.client_options import ClientOptions
        from google.cloud import tpu_v2

        endpoint = connection.endpoint(Api.TPU)
        return tpu_v2.TpuClient(
            credentials=google_credentials(connection),
            transport="rest",
            client_options=ClientOptions(api_endpoint=endpoint) if endpoint else None,
        )

    @staticmethod
    def _retry() -> Any:
        from google.api_core import retry

        return retry.Retry(predicate=retry.if_transient_error, initial=1.0, maximum=10.0, timeout=120.0)

    def _get(self, client: Any, name: str) -> Any:
        return client.get_queued_resource(name=name, retry=self._retry())

    def _create(self, client: Any, connection: Connection, props: Mapping[str, Any]) -> None:
        from google.api_core import exceptions
        from google.cloud import tpu_v2

        api_version, body = props["apiVersion"], props["queuedResource"]
        typed = typed_request(body, api_version)
        parent = parent_of(props["project"], props["zone"])
        if api_version == "v2":
            client.create_queued_resource(
                request=tpu_v2.CreateQueuedResourceRequest(parent=parent, queued_resource_id=props["queuedResourceId"], queued_resource=typed),
                retry=self._retry(),
            )
            return
        from google.auth.transport.requests import AuthorizedSession

        # What the v2alpha1 types make of the request (numbers as integers, defaults left out, as the v2 client
        # sends it), plus the fields they lack.
        wire = json.loads(type(typed).to_json(typed, use_integers_for_enums=False, always_print_fields_with_no_presence=False))
        wire.update({key: body[key] for key in V2ALPHA1_ONLY if key in body})
        session = AuthorizedSession(google_credentials(connection))
        url = f"{connection.endpoint(Api.TPU) or DEFAULT_ENDPOINT}/v2alpha1/{parent}/queuedResources"
        response = session.post(url, params={"queuedResourceId": props["queuedResourceId"]}, json=wire, timeout=connection.deadline)
        if response.status_code >= 400:
            raise exceptions.from_http_response(response)

    def _outputs(self, client: Any, live: Any, props: Mapping[str, Any]) -> dict[str, Any]:
        """State, node names and every worker's internal IP (slice by slice) of a queued resource as read."""
        from google.api_core import exceptions

        names = node_names(props["queuedResource"], props["queuedResourceId"])
        state = live.state.state.name
        ips: list[str] = []
        if state == "ACTIVE":
            parent = parent_of(props["project"], props["zone"])
            for node in names:
                try:
                    found = client.get_node(name=f"{parent}/nodes/{node}", retry=self._retry())
                except exceptions.NotFound:
                    continue
                ips += [e.ip_address for e in found.network_endpoints]
        created = live.create_time
        return {
            "name": live.name,
            "state": state,
            "stateInitiator": live.state.state_initiator.name,
            "nodeNames": names,
            "workerIps": ips,
            "createTime": created.isoformat() if created else None,
        }

    @staticmethod
    def describe(live: Any) -> str:
        """The state of a queued resource that will not become ACTIVE, with its reason."""
        from google.rpc import code_pb2

        state = live.state.state.name
        if state == "FAILED":
            error = live.state.failed_data.error
            code = code_pb2.Code.Name(error.code) if error.code in code_pb2.Code.values() else str(error.code)
            return f"FAILED: {error.message or 'no reason given'} ({code})"
        initiator = live.state.state_initiator.name
        by = {"USER": "by a user", "SERVICE": "by the Cloud TPU service (preemption, maintenance, or the end of a flex-start run)"}
        return f"{state} {by.get(initiator, '(initiator not given)')}"

    def _wait_until_active(self, client: Any, name: str, timeout_minutes: float) -> Any:
        deadline = time.monotonic() + timeout_minutes * 60
        while True:
            live = self._get(client, name)
            state = live.state.state.name
            if state == "ACTIVE":
                return live
            if state in GONE:
                raise QueuedResourceError(f"queued resource {name} is {self.describe(live)}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise QueuedResourceError(
                    f"queued resource {name} is still {state} after {timeout_minutes:g} minutes "
                    "(tpu.queue.createTimeoutMinutes; capacity may take longer: raise it, or set tpu.queue.validUntilHours)"
                )
            time.sleep(min(self.poll_seconds, left))

    def _delete_and_wait(self, client: Any, name: str) -> None:
        from google.api_core import exceptions
        from google.cloud import tpu_v2

        try:
            client.delete_queued_resource(request=tpu_v2.DeleteQueuedResourceRequest(name=name, force=True), retry=self._retry())
        except exceptions.NotFound:
            return
        deadline = time.monotonic() + self.delete_timeout_seconds
        while time.monotonic() < deadline:
            try:
                self._get(client, name)
            except exceptions.NotFound:
                return
            time.sleep(self.poll_seconds)
        raise QueuedResourceError(f"queued resource {name} is still there {self.delete_timeout_seconds:g} s after its deletion was asked")

    # --- the dynamic provider ---------------------------------------------------------------
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        failures = [dynamic.CheckFailure(key, "is required") for key in REPLACING if news.get(key) in (None, "")]
        body = news.get("queuedResource")
        if isinstance(body, Mapping) and isinstance(news.get("apiVersion"), str) and not _has_unknowns(body):
            try:
                typed_request(body, news["apiVersion"])
            except ValueError as exc:
                failures.append(dynamic.CheckFailure("queuedResource", str(exc)))
        return dynamic.CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        from google.api_core import exceptions

        connection = self._connection()
        client = self._client(connection)
        name = f"{parent_of(props['project'], props['zone'])}/queuedResources/{props['queuedResourceId']}"
        try:
            self._create(client, connection, props)
        except exceptions.Conflict:  # 409: ALREADY_EXISTS
            raise QueuedResourceError(
                f"queued resource {name} already exists: delete it (gcloud compute tpus queued-resources delete "
                f"{props['queuedResourceId']} --zone {props['zone']} --force) or import it"
            ) from None
        except exceptions.GoogleAPICallError as exc:
            raise QueuedResourceError(f"the Cloud TPU API refused queued resource {name}: {exc.message}") from None
        try:
            live = self._wait_until_active(client, name, float(props.get("createTimeoutMinutes") or 60))
        except exceptions.GoogleAPICallError as exc:
            raise QueuedResourceError(
                f"queued resource {name} was requested but could not be read while waiting for it ({exc.message}); it may "
                f"still exist: check with gcloud compute tpus queued-resources describe {props['queuedResourceId']} --zone {props['zone']}"
            ) from None
        except QueuedResourceError as exc:
            try:
                self._delete_and_wait(client, name)
                note = "it was deleted, so nothing is left behind"
            except Exception as cleanup:  # noqa: BLE001 - the first failure is the one to report
                note = f"deleting it failed too ({cleanup}); delete it by hand"
            raise QueuedResourceError(f"{exc}; {note}") from None
        return dynamic.CreateResult(id_=name, outs={**props, **self._outputs(client, live, props)})

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        from google.api_core import exceptions

        client = self._client(self._connection())
        try:
            live = self._get(client, id_)
        except exceptions.NotFound:
            return dynamic.ReadResult(id_="", outs={})  # deleted outside Pulumi
        return dynamic.ReadResult(id_=id_, outs={**props, **self._outputs(client, live, props)})

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        replaces = [key for key in REPLACING if olds.get(key) != news.get(key)]
        if olds.get("state") in GONE:
            replaces.append("state")  # preempted, expired or ended: only a new request brings the slices back
        changes = bool(replaces) or olds.get("createTimeoutMinutes") != news.get("createTimeoutMinutes")
        return dynamic.DiffResult(changes=changes, replaces=replaces, stables=[], delete_before_replace=True)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        """Only the create timeout changes in place; it matters for the next create."""
        return dynamic.UpdateResult(outs={**olds, **news, **{k: olds.get(k) for k in OUTPUTS}})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self._delete_and_wait(self._client(self._connection()), id_)


def _has_unknowns(value: Any) -> bool:
    """Whether a value still holds values unknown at preview (the engine's unknown sentinel)."""
    from pulumi.runtime import rpc

    if isinstance(value, Mapping):
        return any(_has_unknowns(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_unknowns(v) for v in value)
    return value == rpc.UNKNOWN


class TpuQueuedResource(dynamic.Resource, module="tpu", name="QueuedResource"):
    """One Cloud TPU queued resource: the request, waited for until its slices are ACTIVE (type `pulumi-python:dynamic/tpu:QueuedResource`)."""

    # Its inputs and outputs keep the engine's camelCase keys (what the plan, the policies and the cost read) as
    # attributes (`state`, `nodeNames` …); the properties below give the lists Python names.

    def __init__(
        self,
        resource_name: str,
        *,
        project: pulumi.Input[str],
        zone: str,
        queued_resource_id: str,
        queued_resource: pulumi.Input[dict],
        api_version: str = "v2",
        create_timeout_minutes: int = 60,
        provider: Optional[QueuedResourceProvider] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        props = {
            "project": project,
            "zone": zone,
            "queuedResourceId": queued_resource_id,
            "apiVersion": api_version,
            "queuedResource": queued_resource,
            "createTimeoutMinutes": create_timeout_minutes,
            **{key: None for key in OUTPUTS},
        }
        super().__init__(provider or QueuedResourceProvider(), resource_name, props, opts)

    @property
    def queued_resource_name(self) -> pulumi.Output[str]:
        """projects/P/locations/ZONE/queuedResources/ID."""
        return getattr(self, "name")

    @property
    def node_names(self) -> pulumi.Output[list[str]]:
        """The TPU nodes it made, slice by slice."""
        return getattr(self, "nodeNames")

    @property
    def worker_ips(self) -> pulumi.Output[list[str]]:
        """Internal IPs of every worker, slice by slice."""
        return getattr(self, "workerIps")


__all__ = ["QueuedResourceError", "QueuedResourceProvider", "TpuQueuedResource", "node_names", "parent_of", "typed_request"]
