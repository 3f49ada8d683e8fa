"""The TPU queued resource provider against a fake Cloud TPU API on 127.0.0.1, through Google's own client.

The requests are the ones TpuVmCluster registers (run under mocks first), so what is tested is what a
`pulumi up` would send: google-cloud-tpu's v2 REST client for create, get, get_node and delete, and
the v2alpha1 POST of a flex-start request.
"""

import base64
import json
from typing import Any

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from ai_clusters.core import labels as contract
from ai_clusters.core.accelerators import TPU_QUEUED_DYNAMIC
from ai_clusters.core.endpoints import SettingsError
from ai_clusters.tpu.queued_resource import QueuedResourceError, QueuedResourceProvider, node_names

from .fake_gcloud import FakeGoogleCloud
from .test_tpu import build

PROJECT = "mock-project"


def request_of(tpu: dict, **over: Any) -> dict[str, Any]:
    """The queued resource's inputs exactly as TpuVmCluster registers them (as the engine passes them on)."""
    reg, _ = build(tpu, **over)
    inputs = dict(reg.one(TPU_QUEUED_DYNAMIC).inputs)
    inputs.pop("__provider")
    return inputs


@pytest.fixture(scope="module")
def multislice_spot() -> dict[str, Any]:
    return request_of({"type": "v6e-16", "slices": 2}, accelerators=32, region="us-east5", zone="us-east5-b", provisioning={"model": "spot"})


@pytest.fixture(scope="module")
def flex_start() -> dict[str, Any]:
    return request_of(
        {"type": "v6e-256", "slices": 2, "queue": {"valid_until_hours": 6}},
        accelerators=512,
        region="us-east5",
        zone="us-east5-a",
        provisioning={"model": "flex-start", "max_run_hours": 24},
    )


@pytest.fixture
def fake(monkeypatch):
    with FakeGoogleCloud(PROJECT) as f:
        monkeypatch.setenv("AI_CLUSTERS_TPU_ENDPOINT", f.url)
        monkeypatch.setenv("AI_CLUSTERS_ANONYMOUS_CREDENTIALS", "1")
        for var in ("AI_CLUSTERS_COMPUTE_ENDPOINT", "AI_CLUSTERS_QUOTAS_ENDPOINT"):
            monkeypatch.delenv(var, raising=False)  # the provider writes to the Cloud TPU API only
        yield f


@pytest.fixture
def provider() -> QueuedResourceProvider:
    return QueuedResourceProvider(poll_seconds=0.01, delete_timeout_seconds=5)


def calls(fake: FakeGoogleCloud, method: str, fragment: str = "") -> list[tuple[str, str, str, Any]]:
    return [c for c in fake.calls if c[0] == method and fragment in c[1]]


def qr_name(props: dict, zone: str) -> str:
    return f"projects/{PROJECT}/locations/{zone}/queuedResources/{props['queuedResourceId']}"


# ---- create ------------------------------------------------------------------------------------------

def test_create_waits_through_the_queue_until_active_and_reports_nodes_and_workers(fake, provider, multislice_spot):
    fake.script_queued_resource("us-east5-b", "tpu", ["WAITING_FOR_RESOURCES", "WAITING_FOR_RESOURCES", "PROVISIONING", "ACTIVE"], hosts=4)
    result = provider.create(dict(multislice_spot))

    assert result.id == qr_name(multislice_spot, "us-east5-b")
    outs = result.outs
    assert outs["state"] == "ACTIVE" and outs["stateInitiator"] == "USER"
    assert outs["nodeNames"] == ["tpu-0", "tpu-1"]
    assert len(outs["workerIps"]) == 8 and outs["workerIps"][:4] == [f"10.0.0.{w + 2}" for w in range(4)]
    assert outs["queuedResource"] == multislice_spot["queuedResource"], "the inputs stay in the state"

    (create,) = calls(fake, "POST")
    method, path, query, body = create
    assert path == "/v2/projects/mock-project/locations/us-east5-b/queuedResources"
    assert "queuedResourceId=tpu" in query and "enum-encoding%3Dint" in query, "google-cloud-tpu's REST transport"
    assert body["spot"] == {}
    (spec,) = body["tpu"]["nodeSpec"]
    assert spec["multisliceParams"] == {"nodeCount": 2, "nodeIdPrefix": "tpu"} and "nodeId" not in spec
    node = spec["node"]
    sent = multislice_spot["queuedResource"]["tpu"]["nodeSpec"][0]["node"]
    assert node["labels"] == sent["labels"] and node["labels"][contract.WORKLOAD] == "pretraining"
    assert node["serviceAccount"] == {"email": "tpu-nodes@mock-project.iam.gserviceaccount.com", "scope": ["https://www.googleapis.com/auth/cloud-platform"]}
    assert node["metadata"]["enable-oslogin"] == "TRUE" and node["metadata"]["startup-script"].startswith("#!/bin/bash")
    assert node["shieldedInstanceConfig"] == {"enableSecureBoot": True}
    assert node["networkConfig"]["subnetwork"].startswith("projects/mock-project/regions/us-east5/subnetworks/")
    assert "enableExternalIps" not in node["networkConfig"], "proto3 leaves the default (false) out: no external IPs"
    polls = calls(fake, "GET", "/queuedResources/tpu")
    assert len(polls) == 4, "one poll per state, until ACTIVE"
    assert [c[1] for c in calls(fake, "GET", "/nodes/")] == ["/v2/projects/mock-project/locations/us-east5-b/nodes/tpu-0", "/v2/projects/mock-project/locations/us-east5-b/nodes/tpu-1"]
    assert calls(fake, "DELETE") == []


def test_a_failed_request_fails_with_its_reason_and_is_deleted(fake, provider, multislice_spot):
    fake.script_queued_resource("us-east5-b", "tpu", ["WAITING_FOR_RESOURCES", "FAILED"], error=(8, "Quota 'TPUV6EPreemptiblePerProjectPerZoneForTPUAPI' exhausted. Limit 16 in zone us-east5-b"))
    with pytest.raises(QueuedResourceError) as err:
        provider.create(dict(multislice_spot))
    message = str(err.value)
    assert "queued resource projects/mock-project/locations/us-east5-b/queuedResources/tpu is FAILED" in message
    assert "Quota 'TPUV6EPreemptiblePerProjectPerZoneForTPUAPI' exhausted" in message and "(RESOURCE_EXHAUSTED)" in message
    assert "it was deleted, so nothing is left behind" in message
    (delete,) = calls(fake, "DELETE")
    assert delete[1].endswith("/queuedResources/tpu") and "force=true" in delete[2]
    assert ("us-east5-b", "tpu") not in fake.queued


def test_a_request_suspended_while_waiting_names_who_suspended_it(fake, provider, multislice_spot):
    fake.script_queued_resource("us-east5-b", "tpu", ["WAITING_FOR_RESOURCES", "SUSPENDED"], initiator="SERVICE")
    with pytest.raises(QueuedResourceError, match=r"is SUSPENDED by the Cloud TPU service .*; it was deleted"):
        provider.create(dict(multislice_spot))


def test_the_create_timeout_deletes_a_request_still_waiting(fake, provider, multislice_spot):
    fake.script_queued_resource("us-east5-b", "tpu", ["WAITING_FOR_RESOURCES"])
    props = {**multislice_spot, "createTimeoutMinutes": 0.001}
    with pytest.raises(QueuedResourceError) as err:
        provider.create(props)
    assert "is still WAITING_FOR_RESOURCES after 0.001 minutes (tpu.queue.createTimeoutMinutes" in str(err.value)
    assert calls(fake, "DELETE") and ("us-east5-b", "tpu") not in fake.queued


def test_an_existing_queued_resource_is_a_clear_error(fake, provider, multislice_spot):
    provider.create(dict(multislice_spot))
    with pytest.raises(QueuedResourceError, match="already exists: delete it .* --force"):
        provider.create(dict(multislice_spot))


def test_flex_start_goes_to_v2alpha1_with_its_run_duration_and_is_read_through_v2(fake, provider, flex_start):
    assert flex_start["apiVersion"] == "v2alpha1"
    fake.script_queued_resource("us-east5-a", "tpu", ["WAITING_FOR_RESOURCES", "ACTIVE"], hosts=64)
    outs = provider.create(dict(flex_start)).outs
    assert outs["nodeNames"] == ["tpu-0", "tpu-1"] and len(outs["workerIps"]) == 128

    (create,) = calls(fake, "POST")
    _, path, query, body = create
    assert path == "/v2alpha1/projects/mock-project/locations/us-east5-a/queuedResources" and query == "queuedResourceId=tpu"
    assert body["provisioningModel"] == "FLEX_START"
    assert body["runDuration"] == {"maxRunDuration": f"{24 * 3600}s"}
    assert body["queueingPolicy"] == {"validUntilDuration": f"{6 * 3600}s"}
    assert "spot" not in body and "guaranteed" not in body
    (spec,) = body["tpu"]["nodeSpec"]
    assert spec["multiNodeParams"] == {"nodeCount": 2, "nodeIdPrefix": "tpu"}, "v2alpha1's name for multisliceParams"
    assert spec["node"]["acceleratorType"] == "v6e-256" and spec["node"]["labels"][contract.PROVISIONING] == "flex-start"
    assert {c[1] for c in calls(fake, "GET", "/queuedResources/")} == {"/v2/projects/mock-project/locations/us-east5-a/queuedResources/tpu"}


def test_the_api_refusing_a_request_is_reported_without_a_trace_of_it(fake, provider, multislice_spot):
    fake.fail(r"/queuedResources$", 403, {"error": {"code": 403, "message": "Permission 'tpu.queuedResources.create' denied", "status": "PERMISSION_DENIED"}})
    with pytest.raises(QueuedResourceError, match="the Cloud TPU API refused queued resource .*tpu.queuedResources.create' denied"):
        provider.create(dict(multislice_spot))
    assert fake.queued == {}


def test_losing_sight_of_a_requested_queued_resource_says_it_may_still_exist(fake, provider, multislice_spot):
    fake.fail(r"/queuedResources/tpu$", 403, {"error": {"code": 403, "message": "Permission 'tpu.queuedResources.get' denied", "status": "PERMISSION_DENIED"}})
    with pytest.raises(QueuedResourceError) as err:
        provider.create(dict(multislice_spot))
    assert "was requested but could not be read while waiting for it" in str(err.value) and "tpu.queuedResources.get' denied" in str(err.value)
    assert "gcloud compute tpus queued-resources describe tpu --zone us-east5-b" in str(err.value)


# ---- delete, read, diff, check ---------------------------------------------------------------------------

def test_delete_takes_the_nodes_with_it_and_waits_until_it_is_gone(fake, provider, multislice_spot):
    result = provider.create(dict(multislice_spot))
    assert fake.tpu_nodes
    provider.delete(result.id, result.outs)
    (delete,) = calls(fake, "DELETE")
    assert delete[1] == "/v2/projects/mock-project/locations/us-east5-b/queuedResources/tpu" and "force=true" in delete[2]
    assert fake.queued == {} and fake.tpu_nodes == {}
    provider.delete(result.id, result.outs)  # already gone: nothing to do


def test_read_sees_a_preempted_queued_resource_and_diff_replaces_it(fake, provider, multislice_spot):
    result = provider.create(dict(multislice_spot))
    fake.set_queued_state("us-east5-b", "tpu", "SUSPENDED", initiator="SERVICE")
    read = provider.read(result.id, result.outs)
    assert read.id == result.id
    assert read.outs["state"] == "SUSPENDED" and read.outs["stateInitiator"] == "SERVICE"
    assert read.outs["workerIps"] == [] and read.outs["nodeNames"] == ["tpu-0", "tpu-1"]
    diff = provider.diff(result.id, read.outs, dict(multislice_spot))
    assert diff.changes and diff.replaces == ["state"] and diff.delete_before_replace


def test_read_after_an_out_of_band_delete_says_it_is_gone(fake, provider, multislice_spot):
    result = provider.create(dict(multislice_spot))
    fake.drop_queued_resource("us-east5-b", "tpu")
    read = provider.read(result.id, result.outs)
    assert read.id == "" and read.outs == {}


def test_diff_replaces_on_any_node_spec_change_and_updates_only_the_timeout(provider, multislice_spot):
    olds = {**multislice_spot, "state": "ACTIVE", "nodeNames": ["tpu-0", "tpu-1"]}
    assert not provider.diff("id", olds, dict(multislice_spot)).changes
    relabelled = json.loads(json.dumps(multislice_spot))
    relabelled["queuedResource"]["tpu"]["nodeSpec"][0]["node"]["labels"]["team"] = "other"
    diff = provider.diff("id", olds, relabelled)
    assert diff.replaces == ["queuedResource"] and diff.delete_before_replace
    longer = {**multislice_spot, "createTimeoutMinutes": 120}
    diff = provider.diff("id", olds, longer)
    assert diff.changes and diff.replaces == []
    assert provider.update("id", olds, longer).outs["createTimeoutMinutes"] == 120


def test_check_refuses_fields_the_api_version_does_not_have(provider, multislice_spot, flex_start):
    assert provider.check({}, dict(multislice_spot)).failures == []
    assert provider.check({}, dict(flex_start)).failures == []
    v2_flex = {**flex_start, "apiVersion": "v2"}
    (failure,) = provider.check({}, v2_flex).failures
    assert failure.property == "queuedResource" and "exist only in the v2alpha1 API" in failure.reason
    typo = json.loads(json.dumps(multislice_spot))
    typo["queuedResource"]["tpu"]["nodeSpec"][0]["node"]["serviceAcount"] = {}
    (failure,) = provider.check({}, typo).failures
    assert 'has no field named "serviceAcount"' in failure.reason
    bad_model = {**flex_start, "queuedResource": {**flex_start["queuedResource"], "provisioningModel": "FLEX"}}
    assert "FLEX is not one of STANDARD, SPOT, RESERVATION_BOUND, FLEX_START" in provider.check({}, bad_model).failures[0].reason


def test_anonymous_credentials_need_the_tpu_endpoint_overridden(monkeypatch, provider, multislice_spot):
    monkeypatch.delenv("AI_CLUSTERS_TPU_ENDPOINT", raising=False)
    monkeypatch.setenv("AI_CLUSTERS_ANONYMOUS_CREDENTIALS", "1")
    with pytest.raises(SettingsError, match="not set: AI_CLUSTERS_TPU_ENDPOINT$"):
        provider.create(dict(multislice_spot))


# ---- what the engine's dynamic provider plugin receives ----------------------------------------------------

def test_the_provider_pickles_by_reference_with_its_settings():
    blob = serialize_provider(QueuedResourceProvider(poll_seconds=7))
    restored = dill.loads(base64.b64decode(blob))
    assert type(restored) is QueuedResourceProvider and restored.poll_seconds == 7
    assert b"ai_clusters.tpu.queued_resource" in base64.b64decode(blob), "imported by name, not copied"
    assert len(blob) < 1024


def test_node_names_follow_the_documented_naming():
    spec = {"parent": "p", "node": {}}
    assert node_names({"tpu": {"nodeSpec": [{**spec, "nodeId": "a"}]}}, "qr") == ["a"]
    assert node_names({"tpu": {"nodeSpec": [{**spec, "multisliceParams": {"nodeCount": 3}}]}}, "qr") == ["qr-0", "qr-1", "qr-2"]
    assert node_names({"tpu": {"nodeSpec": [{**spec, "multiNodeParams": {"nodeCount": 2.0, "nodeIdPrefix": "x"}}]}}, "qr") == ["x-0", "x-1"]
