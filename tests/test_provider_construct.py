"""Each component built through the component provider's construct path, with inputs as a YAML program
passes them (camelCase, numbers as floats, outputs of other resources inside objects), creates the same
children with the same inputs as the Python call.

The construct path is the provider's own (see tests/construct.py), under the project's recording mocks.
"""

import asyncio
from typing import Any, Callable

import pulumi
import pytest
from pulumi.errors import InputPropertyError
from pulumi.provider.experimental.util import camel_case
from pulumi.runtime import rpc

from ai_clusters import ClusterNetwork, ClusterStorage
from ai_clusters.tooling.provider import COMPONENTS, PACKAGE
from ai_clusters.core.spec import SpecError

from .conftest import Registered, mocked
from .construct import PROVIDER, construct, provider_inputs, yaml_inputs

BY_NAME = {c.__name__: c for c in COMPONENTS}
ZONE = "us-central1-a"


def network() -> ClusterNetwork:
    return ClusterNetwork("env", {"region": "us-central1", "accelerator_networks": [{"family": "a3-mega", "zone": ZONE}], "private_services_access": True})


def storage(net: ClusterNetwork, path: str = "compute-engine") -> ClusterStorage:
    return ClusterStorage("st", storage_args(net, path))


def storage_args(net: ClusterNetwork, path: str = "compute-engine") -> dict:
    return {
        "environment": "dev", "cluster": "c", "workload": "pretraining", "region": "us-central1", "zone": ZONE, "path": path,
        "network": net.host_network, "private_services_range": net.private_services_range,
        "storage": {"bucket": {"soft_delete_days": 7}, "filestore": {"capacity_gb": 1024}},
        "labels": {"team": "ml-platform"},
    }


def gpu_args(net: ClusterNetwork, **extra) -> dict:
    return {
        "environment": "dev", "region": "us-central1", "zone": ZONE,
        "workload": {"kind": "pretraining", "accelerators": 16},
        "machine_type": "a3-megagpu-8g", "nodes": 2, "provisioning": {"model": "spot"},
        "network": net.attachment("a3-mega", ZONE, 8), **extra,
    }


# name of the component, then a function of (network, storage) giving its args; None where it needs neither.
CASES: dict[str, tuple[str, Callable[..., dict]]] = {
    "network": ("ClusterNetwork", lambda: {"region": "us-central1", "accelerator_networks": [{"family": "a3-ultra", "zone": "us-central1-b"}], "host_mtu": 8896, "iap_ssh": True}),
    "storage": ("ClusterStorage", storage_args),
    "gpu-vm": ("GpuVmCluster", lambda net, st: gpu_args(net, mounts=st.mounts, bucket=st.bucket_name)),
    "gke": ("GkeCluster", lambda net, st: gpu_args(net, bucket=st.bucket_name, gke={"release_channel": "RAPID", "system_pool": {"min_nodes": 1, "max_nodes": 2}})),
    "slurm": ("SlurmCluster", lambda net, st: gpu_args(net, mounts=st.mounts, bucket=st.bucket_name, private_services_range=net.private_services_range, storage={"filestore": {"capacity_gb": 1024}})),
    "tpu": ("TpuVmCluster", lambda net, st: {
        "environment": "dev", "region": "us-central1", "workload": {"kind": "pretraining", "accelerators": 16},
        "tpu": {"type": "v6e-16"}, "network": {"host_network": net.host_network, "host_subnetwork": net.host_subnetwork}, "mounts": st.mounts,
    }),
    "vertex-training": ("VertexTraining", lambda net, st: {
        "environment": "dev", "region": "us-central1", "workload": {"kind": "finetuning", "accelerators": 8}, "machine_type": "a3-highgpu-8g",
        "network": net.host_network, "private_services_range": net.private_services_range, "bucket": st.bucket_name,
    }),
    "vertex-serving": ("VertexServing", lambda net, st: {
        "environment": "dev", "region": "us-central1", "workload": {"kind": "inference", "accelerators": 1, "latency_ms": 200}, "machine_type": "g2-standard-8",
        "network": net.host_network, "private_services_range": net.private_services_range, "bucket": st.bucket_name,
    }),
}


class Remote:
    """A component built through the provider, as a YAML program sees it: its outputs under schema names."""

    def __init__(self, state: dict):
        self.state = state

    def __getattr__(self, name: str) -> Any:
        return self.state[camel_case(name)]


def run_case(case: str, through_provider: bool) -> tuple[Registered, dict]:
    """Build the case's component (named c) the Python way or through the provider; the network is the
    consumer's own Python resource either way, the storage is built the same way as the component."""
    component, make = CASES[case]
    state: dict = {}
    tasks: list[asyncio.Task] = []
    path = "gke" if component == "GkeCluster" else "compute-engine"

    def python_program():
        if component == "ClusterNetwork":
            BY_NAME[component]("c", make())
            return
        net = network()
        BY_NAME[component]("c", make(net) if component == "ClusterStorage" else make(net, storage(net, path)))

    async def through():
        if component == "ClusterNetwork":
            state.update(await construct(component, "c", make()))
            return
        net = network()
        if component == "ClusterStorage":
            state.update(await construct(component, "c", make(net)))
            return
        st = Remote(await construct("ClusterStorage", "st", storage_args(net, path)))
        state.update(await construct(component, "c", make(net, st)))

    registered = mocked(python_program if not through_provider else lambda: tasks.append(asyncio.ensure_future(through())))
    for task in tasks:
        assert task.done(), "construct did not finish"
        task.result()
    return registered, state


def children(registered: Registered) -> list[tuple[str, str, Any]]:
    """What each child receives; assets (SlurmCluster's staged scripts) compared by what they read."""
    from ai_clusters.tooling.plan import json_safe

    return [(r.type, r.name, json_safe(r.inputs)) for r in registered.all]


@pytest.mark.parametrize("case", list(CASES))
def test_construct_with_yaml_inputs_creates_what_the_python_call_creates(case):
    python, _ = run_case(case, through_provider=False)
    provider, state = run_case(case, through_provider=True)
    built = python.one(f"{PACKAGE}:index:{CASES[case][0]}", "c")
    assert len(python.children_of(built)) >= 2
    assert children(provider) == children(python)
    assert state, "the provider returned no outputs"


def test_outputs_come_back_with_the_schema_names_and_the_kubeconfig_as_a_secret():
    wire: dict = {}

    def program():
        net = network()
        st = storage(net, "gke")

        async def both():
            st_state = await construct("ClusterStorage", "st2", storage_args(net, "gke"))
            gke_state = await construct("GkeCluster", "c", gpu_args(net, bucket=st.bucket_name))
            wire["storage"] = rpc.deserialize_properties(await rpc.serialize_properties(st_state, {}))
            wire["gke"] = rpc.deserialize_properties(await rpc.serialize_properties(gke_state, {}))

        wire["task"] = asyncio.ensure_future(both())

    mocked(program)
    wire.pop("task").result()
    mounts = wire["storage"]["mounts"]
    assert [sorted(m) for m in mounts] == [["kind", "mountPoint", "options", "source"]] * 2
    assert {m["kind"] for m in mounts} == {"gcsfuse", "filestore"}
    kubeconfig = wire["gke"]["kubeconfig"]
    assert rpc.is_rpc_secret(kubeconfig) and "gke-gcloud-auth-plugin" in rpc.unwrap_rpc_secret(kubeconfig)
    assert wire["gke"]["podNetworks"] == [f"vpc{i}" for i in range(1, 9)]
    assert not rpc.is_rpc_secret(wire["gke"]["endpoint"])


@pytest.mark.parametrize("case", ["network", "storage", "gke", "tpu", "vertex-serving"])
def test_each_required_input_left_out_is_refused_by_name(case):
    component, make = CASES[case]
    required = PROVIDER._component_defs[component].inputs
    missing = [k for k, p in required.items() if not p.optional]
    assert missing
    errors: list[str] = []

    def program():
        net = network()
        st = storage(net)
        args = yaml_inputs(make() if component == "ClusterNetwork" else make(net) if component == "ClusterStorage" else make(net, st))

        async def go():
            for key in missing:
                inputs = await provider_inputs({k: v for k, v in args.items() if k != key})
                try:
                    PROVIDER.construct(f"bad-{key}", f"{PACKAGE}:index:{component}", inputs, None)
                except InputPropertyError as exc:
                    errors.append(exc.reason)

        errors.append(asyncio.ensure_future(go()))

    mocked(program)
    errors.pop(0).result()
    assert errors == [f"Missing required input '{k}' on '{component}'" for k in missing]


def component_problems(args: dict, through_provider: bool) -> list[str]:
    """The problems GpuVmCluster 'c1' reports for `args`, called from Python or constructed through the provider."""
    failures: list[BaseException] = []

    async def through():
        try:
            await construct("GpuVmCluster", "c1", args)
        except Exception as exc:  # noqa: BLE001 (the provider wraps what the component raises)
            failures.append(getattr(exc, "inner", exc))

    def program():
        if through_provider:
            failures.append(asyncio.ensure_future(through()))
            return
        try:
            BY_NAME["GpuVmCluster"]("c1", args)
        except SpecError as exc:
            failures.append(exc)

    mocked(program)
    if through_provider:
        failures.pop(0).result()
    (error,) = failures
    assert isinstance(error, SpecError), error
    return [str(p) for p in error.problems]


@pytest.mark.parametrize("stack_keys, args", [
    ({"workload": {"kind": "inference", "accelerators": 0}}, {"workload": {"kind": "inference", "accelerators": 0}}),
    ({"workload": {"kind": "serving", "accelerators": 1}}, {"workload": {"kind": "serving", "accelerators": 1}}),
    ({"provisioning": {"model": "preemptible"}}, {"provisioning": {"model": "preemptible"}}),
    ({"machineType": "a9-nothing"}, {"machine_type": "a9-nothing"}),
    ({"workload": {"kind": "inference", "accelerators": 1, "latencyMs": "fast"}}, {"workload": {"kind": "inference", "accelerators": 1, "latency_ms": "fast"}}),
    ({"workload": {"kind": "inference", "accelerators": 1.5}}, {"workload": {"kind": "inference", "accelerators": 1.5}}),
], ids=["accelerators", "kind", "provisioning", "machine", "latency", "fraction"])
def test_bad_args_fail_with_the_stack_configs_key_path_messages_on_every_path(stack_keys, args):
    from .test_spec import cluster, config, problems

    stack = [p.removeprefix("clusters[0].") for p in problems(config(cluster(**stack_keys)))]
    base = {"environment": "test", "region": "us-central1", "workload": {"kind": "inference", "accelerators": 1},
            "machine_type": "g2-standard-8", "network": {"host_network": "h", "host_subnetwork": "s"}}
    given = {**base, **args}
    assert stack and component_problems(given, through_provider=False) == stack
    assert component_problems(given, through_provider=True) == stack


def test_bad_options_fail_by_key_path_through_the_provider():
    def program():
        net = network()

        async def go():
            await construct("GkeCluster", "bad", gpu_args(net, nodes=3, gke={"autoscaling": {"max_nodes": 2}, "release_channel": "RAPID"}))

        holder.append(asyncio.ensure_future(go()))

    holder: list = []
    mocked(program)
    with pytest.raises(Exception) as info:
        holder[0].result()
    exc = getattr(info.value, "inner", info.value)
    assert isinstance(exc, SpecError)
    assert "gke.autoscaling.maxNodes: 2 disagrees with nodes 3" in str(exc)
