"""The component package's option args, generated from the pydantic option models: one source for both.

The pydantic models (the stack's `gke:`, `slurm:` … blocks, the workload, provisioning, storage and TPU
blocks) are the single declaration of every option: its key, type, default and description (the
docstring under the field). Pulumi infers the component package's schema from TypedDicts read in source,
so this module writes those TypedDicts as source files from the models, and a test fails when a
checked-in file differs from what the models generate. Regenerate after changing a model:

    make args        # or: .venv/bin/python -m ai_clusters.tooling.args_codegen

Mapping: a field with a default (None included) is `NotRequired`; `Optional[X]` is `X`; a nested model is
its own TypedDict (`XSpec` -> `XArgs`, `XOptions` -> `XOptionsArgs`); an enum keeps its class; a union of
scalars (a Slurm setting that may be a number) is a string, as Slurm's configuration is text.
"""

import enum
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from pydantic import BaseModel

from ai_clusters.compute_engine.options import ComputeEngineOptions
from ai_clusters.core.spec.models import ProvisioningSpec, StorageSpec, WorkloadSpec
from ai_clusters.core.spec.tpu import TpuSpec
from ai_clusters.gke.options import GkeOptions
from ai_clusters.slurm.options import SlurmOptions
from ai_clusters.vertex.options import VertexOptions, VertexPoolSpec

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # components/ (import package ai_clusters)


@dataclass(frozen=True)
class Generated:
    """One TypedDict generated from one model (nested models come along in the same file)."""

    model: type[BaseModel]
    name: Optional[str] = None
    """The TypedDict's name; default: from the model's (`XSpec` -> `XArgs`, `XOptions` -> `XOptionsArgs`)."""
    fields: Optional[tuple[str, ...]] = None
    """Only these fields (a subset, e.g. the TPU keys GKE node pools understand); default: every field."""
    doc: Optional[str] = None
    """The TypedDict's docstring when it is a subset and the model's would be wrong for it."""


@dataclass(frozen=True)
class Target:
    """A generated module and what it holds."""

    module: str
    """Module under ai_clusters, e.g. `gke.args`."""
    source: str
    """The module the models come from, named in the header."""
    items: tuple[Generated, ...]

    @property
    def path(self) -> Path:
        return PACKAGE_DIR.joinpath(*self.module.split(".")).with_suffix(".py")


TARGETS: tuple[Target, ...] = (
    Target("blocks.spec_args", "ai_clusters.core.spec.models", (Generated(WorkloadSpec), Generated(ProvisioningSpec), Generated(StorageSpec))),
    Target("compute_engine.args", "ai_clusters.compute_engine.options", (Generated(ComputeEngineOptions),)),
    Target(
        "gke.args",
        "ai_clusters.gke.options and ai_clusters.core.spec.tpu",
        (
            Generated(GkeOptions),
            Generated(
                TpuSpec,
                name="GkeTpuArgs",
                fields=("type", "generation", "topology", "slices"),
                doc="A TPU slice for the cluster's TPU node pools (give `type`, or `generation` and `topology`).",
            ),
        ),
    ),
    Target("slurm.args", "ai_clusters.slurm.options", (Generated(SlurmOptions),)),
    Target("tpu.args", "ai_clusters.core.spec.tpu", (Generated(TpuSpec, name="TpuSliceArgs"),)),
    Target("vertex.args", "ai_clusters.vertex.options", (Generated(VertexOptions), Generated(VertexPoolSpec))),
)


def args_name(model: type[BaseModel]) -> str:
    """`XSpec` -> `XArgs`; anything else -> `<name>Args`."""
    name = model.__name__
    return f"{name.removesuffix('Spec')}Args" if name.endswith("Spec") else f"{name}Args"


class CodegenError(TypeError):
    """A model cannot be expressed as component args."""


@dataclass
class _Module:
    """A module being written: its classes in order and its imports."""

    target: Target
    defined: dict[type, tuple[str, str]]  # model -> (module, TypedDict name), over every target
    classes: list[str] = field(default_factory=list)
    imports: dict[str, set[str]] = field(default_factory=dict)
    written: set[type] = field(default_factory=set)

    def need(self, module: str, name: str) -> None:
        if module != f"ai_clusters.{self.target.module}":
            self.imports.setdefault(module, set()).add(name)

    def annotation(self, tp: Any, where: str) -> str:
        origin, params = typing.get_origin(tp), typing.get_args(tp)
        if origin in (Union, types.UnionType):
            members = [p for p in params if p is not type(None)]
            if len(members) == 1:
                return self.annotation(members[0], where)
            if all(m in (str, int, float) for m in members):
                return "str"
            raise CodegenError(f"{where}: a union of {members} has no component-args type")
        if origin is list:
            return f"list[{self.annotation(params[0], where)}]"
        if origin is dict:
            return f"dict[{self.annotation(params[0], where)}, {self.annotation(params[1], where)}]"
        if tp in (str, int, float, bool):
            return tp.__name__
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            self.need(tp.__module__, tp.__name__)
            return tp.__name__
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp not in self.defined:
                self.write(Generated(tp))
            module, name = self.defined[tp]
            self.need(module, name)
            return name
        raise CodegenError(f"{where}: {tp!r} has no component-args type")

    def write(self, item: Generated) -> None:
        model = item.model
        name = item.name or args_name(model)
        if item.fields is None:
            self.defined.setdefault(model, (f"ai_clusters.{self.target.module}", name))
        lines = [f"class {name}(TypedDict):", f'    """{item.doc or _doc(model)}"""', ""]
        fields = model.model_fields
        keys = item.fields or tuple(fields)
        for key in keys:
            info = fields[key]
            where = f"{model.__name__}.{key}"
            if not info.description:
                raise CodegenError(f"{where} has no docstring: every option is documented")
            ann = self.annotation(info.annotation, where)
            if not info.is_required():
                self.need("typing_extensions", "NotRequired")
                ann = f"NotRequired[{ann}]"
            lines += [f"    {key}: {ann}", f'    """{_escape(info.description)}"""']
        self.classes.append("\n".join(lines))

    def render(self) -> str:
        self.need("typing", "TypedDict")
        head = [
            f'"""Component args generated from the pydantic models of {self.target.source}: do not edit.',
            "",
            "Regenerate with `make args` (ai_clusters.tooling.args_codegen); tests/test_architecture.py fails when",
            "this file and the models differ. No `from __future__ import annotations`: schema inference reads the",
            'real annotations."""',
            "",
        ]
        std = sorted(m for m in self.imports if m.split(".")[0] in ("typing", "typing_extensions"))
        own = sorted(m for m in self.imports if m not in std)
        for group in (std, own):
            for module in group:
                head.append(f"from {module} import {', '.join(sorted(self.imports[module]))}")
            head.append("")
        names = [c.split("(", 1)[0].removeprefix("class ") for c in self.classes]
        body = "\n\n\n".join(self.classes)
        exports = "__all__ = [" + ", ".join(f'"{n}"' for n in sorted(names)) + "]"
        return "\n".join(head).rstrip() + "\n\n\n" + body + "\n\n\n" + exports + "\n"


def _doc(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    if not doc:
        raise CodegenError(f"{model.__name__} has no docstring")
    return _escape(doc)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def generate() -> dict[Path, str]:
    """Every generated module's text, by path."""
    defined: dict[type, tuple[str, str]] = {}
    out: dict[Path, str] = {}
    for target in TARGETS:
        module = _Module(target, defined)
        for item in target.items:
            if item.fields is None and item.model in defined:
                continue  # already written as the type of an earlier item's field
            module.write(item)
        out[target.path] = module.render()
    return out


def main(argv: Optional[list[str]] = None) -> int:
    """Write the generated modules (`--check`: only say which differ, exit 1 if any)."""
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    for path, text in generate().items():
        if not path.is_file() or path.read_text() != text:
            stale.append(path)
            if not check:
                path.write_text(text)
    for path in stale:
        print(f"{'differs' if check else 'wrote'}: {path.relative_to(PACKAGE_DIR.parent)}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
