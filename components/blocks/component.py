"""The one shape of every path's component: resolve (pure, in the core) -> build children -> register outputs.

A component constructed by a user (Python, or another language through the component package) gets
its args validated by the very models and checks of a stack's cluster, its path's plan step included;
the program hands over the cluster it already resolved (`from_resolved`), so nothing is resolved twice.
Either way every problem is reported before anything is registered: nothing is half-created.
"""

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import pulumi
import pulumi_gcp as gcp
from pydantic.alias_generators import to_camel

from ai_clusters.blocks.outputs import register_typed_outputs
from ai_clusters.core.places import zones_of
from ai_clusters.core.enums import ClusterPath
from ai_clusters.core.spec import ClusterSpec, Problem, ResolvedCluster, SpecError, parse_model, resolve_cluster

Add = Callable[[str, str], None]


@dataclass(frozen=True)
class BuildContext:
    """What the program hands a path's component besides the resolved cluster."""

    network: Any
    """The environment's ClusterNetwork."""
    storage: Any
    """The cluster's ClusterStorage."""
    deployment_name: str
    """The deployment (the stack's name): names exported artifacts such as the Slurm blueprint."""

PLAIN_KEYS = (
    "environment",
    "region",
    "zone",
    "workload",
    "machine_type",
    "gpu",
    "gpus_per_node",
    "nodes",
    "provisioning",
    "framework",
    "labels",
    "protect_data",
    "tpu",
)
"""Args that shape the resource graph: plain values, known when the component is constructed."""

SPEC_KEYS = tuple(k for k in ClusterSpec.model_fields if k not in ("name", "path"))


def _contains_output(value: Any) -> bool:
    if isinstance(value, pulumi.Output):
        return True
    if isinstance(value, dict):
        return any(_contains_output(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_output(v) for v in value)
    return False


def provider_project(args: Mapping[str, Any]) -> pulumi.Input[str]:
    """The `project` arg, else the project the Google provider works in (asked through the provider, so a
    component never reads the stack's configuration itself)."""
    return args.get("project") or gcp.organizations.get_client_config_output().project


def catalog_zones(region: str) -> list[str]:
    """Every zone of `region` the catalog knows, in order."""
    return zones_of(region)


def resolve_args(name: str, args: Mapping[str, Any], path: ClusterPath) -> ResolvedCluster:
    """A component's args resolved like a stack's cluster (same models, same checks, same path plan step)."""
    problems = [
        Problem(to_camel(k), "must be a plain value known when the component is constructed, not an Output")
        for k in (*PLAIN_KEYS, *SPEC_KEYS)
        if _contains_output(args.get(k))
    ]
    for key in ("environment", "region"):
        if not isinstance(args.get(key), str) or not args.get(key):
            problems.append(Problem(key, "is required"))
    if problems:
        raise SpecError(list(dict.fromkeys(problems)))
    spec_input = {k: args[k] for k in SPEC_KEYS if args.get(k) is not None}
    # A component's storage is what it is given (ClusterStorage builds it): none declared is none, not a workload default.
    spec_input.setdefault("storage", {"bucket": {"enabled": False}})
    spec = parse_model(ClusterSpec, {**spec_input, "name": name, "path": path})
    region = args["region"]
    return resolve_cluster(
        spec,
        environment=args["environment"],
        project=args.get("project") if isinstance(args.get("project"), str) else "",
        region=region,
        zones=[args["zone"]] if args.get("zone") else catalog_zones(region),
        protect_data=args.get("protect_data", True),
    )


class ClusterComponent(pulumi.ComponentResource):
    """Base of the path components: args checked and resolved before anything is registered, then built.

    A subclass names its `cluster_path`, may check its wiring args (`check_wiring`), and builds its children
    from the resolved cluster in `build`; its typed `pulumi.Output` annotations are its outputs.
    """

    # Each subclass sets its ClusterPath here. Left unannotated on purpose: Pulumi infers a component's
    # outputs from every annotation of the class and its bases.
    cluster_path = None

    def __init__(
        self,
        name: str,
        args: Mapping[str, Any],
        opts: Optional[pulumi.ResourceOptions] = None,
        *,
        resolved: Optional[ResolvedCluster] = None,
    ):
        args = dict(args)
        subject = f"{type(self).__name__} '{name}'"
        found: list[Problem] = []

        def add(key: str, message: str) -> None:
            found.append(Problem(key, message))

        try:
            if resolved is None:
                resolved = resolve_args(name, self.prepare_args(args), self.cluster_path)
            self.check_wiring(resolved, args, add)
        except SpecError as exc:
            if exc.partial is not None:  # the path's plan found problems: report the wiring's with them
                self.check_wiring(exc.partial, args, add)
            raise SpecError([*exc.problems, *found], subject) from None
        if found:
            raise SpecError(found, subject)
        super().__init__(f"ai-clusters:index:{type(self).__name__}", name, {}, opts)
        self.resolved = resolved
        self.project: pulumi.Input[str] = provider_project(args)
        self.build(name, resolved, args)
        register_typed_outputs(self)

    def prepare_args(self, args: dict) -> dict:
        """The args as the core resolves them (a component may fill in what it decides itself)."""
        return args

    def check_wiring(self, resolved: ResolvedCluster, args: dict, add: Add) -> None:
        """Check the args that wire the component to others (networks, mounts …); report through `add`."""

    def build(self, name: str, resolved: ResolvedCluster, args: dict) -> None:
        """Create the children (every one with `parent=self`) and set the typed outputs."""
        raise NotImplementedError


__all__ = ["BuildContext", "ClusterComponent", "PLAIN_KEYS", "catalog_zones", "provider_project", "resolve_args"]
