"""One clear message per problem, each naming the key path and the allowed values."""

from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence, Union

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

Loc = Sequence[Union[str, int]]


def key_path(loc: Loc) -> str:
    """('clusters', 1, 'workload', 'kind') -> 'clusters[1].workload.kind'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SpecError(ValueError):
    """Bad input: one or more problems, each with its key path. Nothing has been created."""

    def __init__(self, problems: Iterable[Problem], subject: str = "", partial: Any = None):
        self.problems = list(problems)
        self.subject = subject
        self.partial = partial  # the cluster as far as it resolved when its path's plan step found the problems
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.subject}: " if self.subject else ""
        if not self.problems:
            return self.subject
        if len(self.problems) == 1:
            return f"{head}{self.problems[0]}"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return f"{head}{len(self.problems)} problems:\n{lines}"


def _describe(err: dict) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind in ("enum", "literal_error"):
        expected = ctx.get("expected", "")
        allowed = expected.replace("'", "").replace(" or ", ", ")
        return f"{value!r} is not one of {allowed}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "is required"
    if kind == "string_pattern_mismatch":
        return f"{value!r} does not match the pattern {ctx.get('pattern')}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"a mapping of keys expected, got {value!r}"  # not pydantic's "dictionary or instance of ClusterSpec"
    if kind == "int_from_float":
        return f"a whole number expected, got {value!r}"
    if kind.endswith("_parsing") or kind.endswith("_type"):
        expected = err["msg"].removeprefix("Input should be ").split(",")[0].rstrip(".")
        return f"{expected} expected, got {value!r}"
    return f"{err['msg']} (got {value!r})"


def allowed_keys(model: Any, loc: Sequence[Union[str, int]]) -> Optional[list[str]]:
    """The keys a pydantic model accepts at `loc` (for 'unknown key' messages)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return None


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def problems_from(exc: ValidationError, model: Any = None, prefix: Loc = ()) -> list[Problem]:
    """Turn a pydantic ValidationError into our problems (key paths use the stack file's names)."""
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        # pydantic adds validator and union-member names to the loc; they are not keys of the file.
        loc = [p for p in err["loc"] if not (isinstance(p, str) and (p.startswith("function-") or "[" in p))]
        message = _describe(err)
        if err["type"] == "extra_forbidden" and model is not None:
            keys = allowed_keys(model, loc[:-1])
            if keys:
                message = f"unknown key; allowed: {', '.join(keys)}"
        # Python callers may use snake_case names: report the stack file's camelCase keys either way.
        path = key_path([*prefix, *[to_camel(p) if isinstance(p, str) else p for p in loc]])
        if (path, message) not in seen:
            seen.add((path, message))
            problems.append(Problem(path, message))
    return problems


def parse_model(model: Any, data: Any, prefix: Loc = ()) -> Any:
    """Validate `data` as `model`; SpecError with one problem per bad key, named by key path under `prefix`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from(exc, model, prefix)) from None
