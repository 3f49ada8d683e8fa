"""Construct a component through the component provider as the engine would, in-process under mocks.

Inputs go over the wire as the engine sends them for Construct (the provider accepts output values):
camelCase keys, numbers as floats, outputs of other resources as output values with their
dependencies; then through the provider server's own `_construct_inputs` into
`AiClustersProvider.construct`.
"""

from enum import Enum
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from pulumi.provider.experimental.util import camel_case
from pulumi.provider.server import ProviderServicer
from pulumi.runtime import proto, rpc

from ai_clusters.tooling.provider import COMPONENTS, PACKAGE, VERSION, AiClustersProvider

PROVIDER = AiClustersProvider(COMPONENTS, PACKAGE, None, VERSION)
FREE_FORM = {"labels"}  # maps whose keys are data, not field names


def yaml_inputs(value: Any, free: bool = False) -> Any:
    """Python component args as a YAML program writes them: camelCase keys, enum values as strings."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {(k if free else camel_case(k)): yaml_inputs(v, k in FREE_FORM) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [yaml_inputs(v) for v in value]
    return value


async def wire(value: Any) -> tuple[Any, set[str]]:
    """A value in the engine's wire form for Construct (the provider accepts outputs): outputs of other
    resources stay output values with their dependencies, numbers become floats; and the URNs it depends on."""
    if isinstance(value, pulumi.Output):
        inner, urns = await wire(await value.future())
        urns |= {await r.urn.future() for r in await value.resources()}
        out = {rpc._special_sig_key: rpc._special_output_value_sig, "value": inner, "dependencies": sorted(urns)}
        return ({**out, "secret": True} if await value.is_secret() else out), urns
    if isinstance(value, dict):
        pairs = {k: await wire(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, set().union(*(u for _, u in pairs.values()))
    if isinstance(value, (list, tuple)):
        items = [await wire(v) for v in value]
        return [v for v, _ in items], set().union(*(u for _, u in items))
    return value, set()


async def provider_inputs(inputs: dict) -> dict:
    """What the provider server hands to `construct` for `inputs` sent by the engine."""
    struct, deps = struct_pb2.Struct(), {}
    for key, value in yaml_inputs(inputs).items():
        encoded, urns = await wire(value)
        struct[key] = encoded
        deps[key] = proto.ConstructRequest.PropertyDependencies(urns=sorted(urns))
    return await ProviderServicer._construct_inputs(struct, deps)


async def construct(component: str, name: str, args: dict) -> dict:
    """Construct `component` through the provider with `args` as a YAML program passes them; returns its state."""
    inputs = await provider_inputs(args)
    return PROVIDER.construct(name, f"{PACKAGE}:index:{component}", inputs, pulumi.ResourceOptions()).state
