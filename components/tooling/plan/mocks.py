"""Pulumi mocks that stand in for Google Cloud, and a monitor that records every registration.

The mocks answer like the provider would after creation: ids, self links, names, emails,
addresses, so the program's outputs resolve. The monitor keeps what the engine receives for every
resource (type, name, parent, inputs in camelCase, protect, retainOnDelete).
"""

import asyncio
import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from ai_clusters.core.accelerators import TPU_QUEUED_DYNAMIC, accelerator_uses
from ai_clusters.tpu.queued_resource import node_names

# Compute Engine collections: resource type -> (scope, collection) for self links.
_COMPUTE = {
    "Network": ("global", "networks"),
    "Subnetwork": ("regions", "subnetworks"),
    "Router": ("regions", "routers"),
    "Firewall": ("global", "firewalls"),
    "GlobalAddress": ("global", "addresses"),
    "Instance": ("zones", "instances"),
    "InstanceTemplate": ("global", "instanceTemplates"),
    "RegionInstanceTemplate": ("regions", "instanceTemplates"),
    "InstanceGroupManager": ("zones", "instanceGroupManagers"),
    "ResourcePolicy": ("regions", "resourcePolicies"),
    "Disk": ("zones", "disks"),
}


@dataclass
class Registration:
    """One resource as the engine received it."""

    urn: str
    type: str
    name: str
    parent: Optional[str]
    custom: bool
    protect: bool
    retain_on_delete: bool
    inputs: dict[str, Any]
    dependencies: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    ignore_changes: list[str] = field(default_factory=list)
    """Input paths the resource's `ignore_changes` option keeps Pulumi from updating."""



def _stable_number(text: str) -> int:
    """A number derived from `text`, the same in every run (Python's hash() of a str changes per process),
    so auto-named resources and ids read the same in every plan and pull-request comment."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")

class CloudMocks(Mocks):
    """Answers resource registrations the way Google Cloud would after creating them."""

    def __init__(self, project: str, region: str):
        self.project = project
        self.region = region

    @staticmethod
    def _ip(key: str) -> str:
        """A private address derived from the resource and the address's role in it: the same in every
        run, whatever order the registrations arrive in."""
        n = _stable_number(key) % (64 * 250)
        return f"10.0.{n // 250}.{n % 250 + 2}"

    def call(self, args: MockCallArgs) -> tuple[dict, Optional[list[tuple[str, str]]]]:
        if args.token.endswith("getClientConfig"):
            return {"project": self.project, "region": self.region, "accessToken": "mock-token", "id": "mock"}
        if args.token.endswith("getProject"):
            return {"projectId": self.project, "number": "123456789012", "name": self.project}
        return {}  # a plain dict: pulumi's MockMonitor reads a tuple's second item as a list of failures

    def new_resource(self, args: MockResourceArgs) -> tuple[Optional[str], dict]:
        inputs = args.inputs
        if not args.custom:
            return "", {}
        kind = args.typ.rsplit(":", 1)[-1]
        name = inputs.get("name") or inputs.get("instanceId") or inputs.get("accountId") or args.name
        project = inputs.get("project") or self.project
        location = inputs.get("zone") or inputs.get("location") or inputs.get("region") or self.region
        state: dict[str, Any] = {**inputs, "name": name, "project": project}
        rid = f"projects/{project}/{name}"
        if args.typ.startswith("gcp:compute/") and kind in _COMPUTE:
            scope, collection = _COMPUTE[kind]
            where = "global" if scope == "global" else f"{scope}/{location}"
            rid = f"projects/{project}/{where}/{collection}/{name}"
            state["selfLink"] = f"https://www.googleapis.com/compute/v1/{rid}"
            if kind == "Instance":
                state["networkInterfaces"] = [
                    {**nic, "networkIp": self._ip(f"{args.typ}/{args.name}/nic{i}"), "name": f"nic{i}"} for i, nic in enumerate(inputs.get("networkInterfaces") or [])
                ]
                state["instanceId"] = str(_stable_number(rid) % 10**12)
        elif kind == "Account" and args.typ.startswith("gcp:serviceaccount/"):
            state["email"] = f"{name}@{project}.iam.gserviceaccount.com"
            rid = f"projects/{project}/serviceAccounts/{state['email']}"
        elif kind == "Bucket":
            name = inputs.get("name") or f"{args.name}-{_stable_number(args.name) % 10**6:06d}"
            state.update(name=name, url=f"gs://{name}", selfLink=f"https://www.googleapis.com/storage/v1/b/{name}")
            rid = name
        elif args.typ.startswith("gcp:filestore/"):
            state["networks"] = [{**n, "ipAddresses": [self._ip(f"{args.typ}/{args.name}/{i}")]} for i, n in enumerate(inputs.get("networks") or [])]
            rid = f"projects/{project}/locations/{location}/instances/{name}"
        elif args.typ.startswith("gcp:lustre/"):
            state["mountPoint"] = f"{self._ip(f'{args.typ}/{args.name}')}@tcp:/{inputs.get('filesystem', 'lustrefs')}"
            rid = f"projects/{project}/locations/{location}/instances/{name}"
        elif args.typ.startswith("gcp:parallelstore/"):
            state["accessPoints"] = [self._ip(f"{args.typ}/{args.name}/{i}") for i in range(3)]
            rid = f"projects/{project}/locations/{location}/instances/{name}"
        elif args.typ == "gcp:container/cluster:Cluster":
            state.update(
                endpoint=self._ip(f"{args.typ}/{args.name}"),
                masterAuth={"clusterCaCertificate": "bW9jay1jYQ==", "clientCertificate": "", "clientKey": ""},
                selfLink=f"https://container.googleapis.com/v1/projects/{project}/locations/{location}/clusters/{name}",
            )
            endpoints = inputs.get("controlPlaneEndpointsConfig") or {}
            if "dnsEndpointConfig" in endpoints:  # GKE answers with the cluster's DNS name
                dns = {**endpoints["dnsEndpointConfig"], "endpoint": f"gke-{_stable_number(name) % 10**12:012d}.{location}.gke.goog"}
                state["controlPlaneEndpointsConfig"] = {**endpoints, "dnsEndpointConfig": dns}
            rid = f"projects/{project}/locations/{location}/clusters/{name}"
        elif args.typ == TPU_QUEUED_DYNAMIC:
            # As create answers once the request is ACTIVE: its nodes, and every worker's address slice by slice.
            qid = inputs.get("queuedResourceId") or args.name
            location = inputs.get("zone") or location
            rid = f"projects/{project}/locations/{location}/queuedResources/{qid}"
            names = node_names(inputs.get("queuedResource") or {}, qid)
            uses = accelerator_uses(args.typ, inputs)
            hosts = max(1, uses[0].nodes // max(1, len(names))) if uses else 1
            ips = [self._ip(f"{rid}/{node}/{worker}") for node in names for worker in range(hosts)]
            state.update(name=rid, state="ACTIVE", stateInitiator="USER", nodeNames=names, workerIps=ips)
        elif args.typ.startswith("gcp:tpu/"):
            rid = f"projects/{project}/locations/{location}/{'queuedResources' if 'Queued' in kind else 'nodes'}/{name}"
            state["networkEndpoints"] = [{"ipAddress": self._ip(f"{args.typ}/{args.name}"), "port": 8470}]
        elif args.typ.startswith("gcp:vertex/"):
            rid = f"projects/{project}/locations/{location}/{kind[0].lower() + kind[1:]}s/{name}"
        state.setdefault("id", rid)
        return rid, state


class RecordingMonitor(MockMonitor):
    """A mock monitor that keeps every registration with its options.

    Pulumi calls the monitor from its thread pool, and the mocks need an event loop in each of those
    threads; Pulumi's `_ensure_event_loop` would leave one open per thread, finalised whenever the
    thread's memory is collected (at exit it may print `Exception ignored in: BaseEventLoop.__del__`).
    The monitor makes those loops itself and `close` closes them when the run is over."""

    def __init__(self, mocks: Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.component_outputs: dict[str, dict[str, Any]] = {}
        self._local = threading.local()
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._lock = threading.Lock()

    def _thread_loop(self) -> None:
        """Give a worker thread an event loop of the run's own (the main thread has the run's loop)."""
        if threading.current_thread() is threading.main_thread() or getattr(self._local, "loop", None) is not None:
            return
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._local.loop = loop
        with self._lock:
            self._loops.append(loop)

    def close(self) -> None:
        """Close the worker threads' event loops (the run is over: nothing awaits on them any more)."""
        with self._lock:
            loops, self._loops = self._loops, []
        for loop in loops:
            loop.close()

    def Invoke(self, request):  # noqa: N802 (gRPC method name)
        self._thread_loop()
        return super().Invoke(request)

    def ReadResource(self, request):  # noqa: N802 (gRPC method name)
        self._thread_loop()
        return super().ReadResource(request)

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine names them: a child of the root stack carries no parent type.
        if parent and "::pulumi:pulumi:Stack::" in parent:
            parent = ""
        return super().make_urn(parent, type_, name)

    def RegisterResourceOutputs(self, request):  # noqa: N802 (gRPC method name)
        """A component's outputs, kept by URN (the benchmark's floor registers the same)."""
        self._thread_loop()
        _ensure_event_loop()
        self.component_outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        self._thread_loop()
        _ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object)
        rid, state = self.mocks.new_resource(
            MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=inputs,
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
            )
        )
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, rid, state)
        parent = request.parent if request.parent and "::pulumi:pulumi:Stack::" not in request.parent else None
        self.registrations.append(
            Registration(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=parent,
                custom=bool(request.custom),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                inputs=inputs,
                dependencies=list(request.dependencies),
                outputs=state,
                ignore_changes=list(request.ignoreChanges),
            )
        )
        obj = _sync_await(rpc.serialize_properties(state, {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=rid or "", object=obj)
