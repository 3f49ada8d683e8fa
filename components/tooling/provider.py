"""What the component package hosts, and the fixes to Pulumi's component provider it relies on.

Every public component goes into `COMPONENTS`; `provider/__main__.py` hosts them with
`component_provider_host` after `use_package_provider()`, which makes the host build
`AiClustersProvider`:
- the args of the cluster components share their common fields through TypedDict inheritance
  (`GpuClusterArgs`, `ClusterArgs`): Pulumi's analyzer reads field docstrings only from the class it
  analyzes, so `InheritingAnalyzer` looks along the class's bases too, and every input keeps its
  description;
- outputs a component names in `secret_outputs` (GkeCluster's kubeconfig) are marked secret in the
  schema, so generated SDKs type them as secrets;
- outputs that are lists or maps of objects (ClusterNetwork.attachments, ClusterStorage.mounts …)
  come out with the schema's camelCase keys; the stock provider maps only a single object's keys;
- object inputs that arrive as outputs of other resources (a YAML program's `${storage.mounts}`)
  get their keys mapped to Python names once they resolve; the stock provider drops an object and
  passes a list of them on with camelCase keys;
- integers arrive as floats over the wire; the stock provider converts them and then keeps the
  float (2.0): they reach the component as ints;
- a value that is not one of its enum's values, or not an integer where one is wanted, reaches the
  component as given, so it fails with the stack config's key-path message (the same pydantic
  models validate both), not with the stock provider's own wording.
"""

import json
from enum import Enum
from typing import Any, Optional

from ai_clusters.tooling.rpc_status import share_rpc_status

share_rpc_status()  # before pulumi.provider: the Google clients may share this process

from pulumi import ComponentResource, Output  # noqa: E402
from pulumi.provider.experimental import component as _component  # noqa: E402
from pulumi.provider.experimental import host as _host  # noqa: E402
from pulumi.provider.experimental.analyzer import Analyzer, ComponentDefinition, PropertyDefinition, PropertyType  # noqa: E402
from pulumi.provider.experimental.component import ComponentProvider  # noqa: E402
from pulumi.provider.experimental.util import camel_case  # noqa: E402

from ai_clusters import __version__
from ai_clusters.blocks.args import ClusterArgs, GpuClusterArgs
from ai_clusters.compute_engine.component import GpuVmCluster
from ai_clusters.gke.component import GkeCluster
from ai_clusters.blocks.network import ClusterNetwork
from ai_clusters.slurm.component import SlurmCluster
from ai_clusters.blocks.storage import ClusterStorage
from ai_clusters.tpu.component import TpuVmCluster
from ai_clusters.vertex.component import VertexServing, VertexTraining
from ai_clusters.vertex.common import VertexArgs

PACKAGE = "ai-clusters"
VERSION = __version__
COMPONENTS = [ClusterNetwork, ClusterStorage, GpuVmCluster, GkeCluster, SlurmCluster, TpuVmCluster, VertexTraining, VertexServing]
SHARED_ARGS = (VertexArgs, GpuClusterArgs, ClusterArgs)


class InheritingAnalyzer(Analyzer):
    """An analyzer that also finds the docstrings of inherited fields (shared args, component bases).

    Python 3.11 keeps no record of a TypedDict's bases, so the shared args of `ai_clusters.blocks.args`
    (ClusterArgs, GpuClusterArgs) are searched when a class does not declare a field itself.
    """

    def get_docstring(self, typ: type, name: str) -> Optional[str]:
        found = super().get_docstring(typ, name)
        for base in getattr(typ, "__mro__", ())[1:]:  # outputs declared on a component base class
            if found is None and name in base.__dict__.get("__annotations__", {}):
                found = super().get_docstring(base, name)
        if found is None and typ not in SHARED_ARGS:
            for base in SHARED_ARGS:
                if name in base.__annotations__:
                    found = super().get_docstring(base, name)
                    if found is not None:
                        break
        return found


def use_inherited_docstrings() -> None:
    """Make the component provider infer the schema with `InheritingAnalyzer`."""
    _component.Analyzer = InheritingAnalyzer


class AiClustersProvider(ComponentProvider):
    """Pulumi's component provider with secret outputs in the schema and complete output mapping."""

    def __init__(self, components: list[type[ComponentResource]], name: str, namespace: Optional[str] = None, version: str = "0.0.0"):
        use_inherited_docstrings()
        super().__init__(components, name, namespace, version)
        schema = json.loads(self.schema)
        for component in components:
            outputs = schema["resources"][f"{name}:index:{component.__name__}"]["properties"]
            for key in getattr(component, "secret_outputs", ()):
                outputs[camel_case(key)]["secret"] = True
        self.schema = json.dumps(schema)

    def map_input_properties(self, inputs: Any, properties: dict[str, PropertyDefinition], mapping: dict[str, str], component_name: str, property_path: str) -> Any:
        if isinstance(inputs, Output):
            return inputs.apply(lambda v: self.map_input_properties(v, properties, mapping, component_name, property_path))
        if not isinstance(inputs, dict):
            return super().map_input_properties(inputs, properties, mapping, component_name, property_path)
        later = {k: v for k, v in inputs.items() if isinstance(v, Output) and k in properties and _has_objects(properties[k])}
        as_given = {k: v for k, v in inputs.items() if k in properties and k not in later and self.unfit(v, properties[k])}
        now = {k: p for k, p in properties.items() if k not in later and k not in as_given}
        mapped = super().map_input_properties({k: v for k, v in inputs.items() if k in now}, now, mapping, component_name, property_path)
        mapped.update({mapping[k]: v for k, v in as_given.items()})
        for key, prop in now.items():
            if mapping[key] in mapped:
                mapped[mapping[key]] = _integers(mapped[mapping[key]], prop)
        for key, value in later.items():
            mapped[mapping[key]] = value.apply(lambda v, key=key: self.map_input_properties({key: v}, {key: properties[key]}, mapping, component_name, property_path).get(mapping[key]))
        return mapped

    def unfit(self, value: Any, prop: PropertyDefinition) -> bool:
        """Whether the stock mapping would reject `value` itself: not a value of its enum, not an integer."""
        if value is None or isinstance(value, Output):
            return False
        if prop.type == PropertyType.INTEGER:
            return not isinstance(value, (int, float)) or isinstance(value, bool) or value != int(value)
        type_def = self.get_type_definition(prop) if prop.ref else None
        if type_def is not None and type_def.enum:
            return value not in {e.value for e in type_def.enum}
        return False

    def get_state(self, instance: ComponentResource, component_def: ComponentDefinition) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for key, prop in component_def.outputs.items():
            value = getattr(instance, component_def.outputs_mapping[key], None)
            if value is not None:
                state[key] = self.to_schema(value, prop)
        return state

    def to_schema(self, value: Any, prop: PropertyDefinition) -> Any:
        """A Python output value with the schema's names: objects, lists and maps of them, enums."""
        if isinstance(value, Output):
            return value.apply(lambda v: self.to_schema(v, prop))
        if value is None:
            return None
        if prop.ref:
            type_def = self.get_type_definition(prop)
            if type_def is None:
                return value
            if type_def.enum:
                return value.value if isinstance(value, Enum) else value
            found = {schema_name: (value.get(py_name), type_def.properties[schema_name]) for schema_name, py_name in type_def.properties_mapping.items()}
            return {k: self.to_schema(v, p) for k, (v, p) in found.items() if v is not None}
        if prop.items is not None and isinstance(value, (list, tuple)):
            return [self.to_schema(v, prop.items) for v in value]
        if prop.additional_properties is not None and isinstance(value, dict):
            return {k: self.to_schema(v, prop.additional_properties) for k, v in value.items()}
        return value


def _integers(value: Any, prop: PropertyDefinition) -> Any:
    """Whole floats where the schema wants integers (alone or in a list) as ints."""
    if prop.type == PropertyType.INTEGER and isinstance(value, float) and value.is_integer():
        return int(value)
    if prop.items is not None and prop.items.type == PropertyType.INTEGER and isinstance(value, list):
        return [_integers(v, prop.items) for v in value]
    return value


def _has_objects(prop: PropertyDefinition) -> bool:
    """Whether the property is an object, or a list or map of them (its keys need mapping)."""
    return bool(prop.ref or (prop.items and prop.items.ref) or (prop.additional_properties and prop.additional_properties.ref))


def use_package_provider() -> None:
    """Make `component_provider_host` serve `AiClustersProvider`."""
    _host.ComponentProvider = AiClustersProvider
