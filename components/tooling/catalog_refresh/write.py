"""`catalog refresh --write`: bring zones and shapes in catalog.yaml up to what Google lists.

The file is edited as text, line by line, only where a value changes: zone lists, `zones_as_of`,
`listed_regions`, vCPU/memory/GPU counts, the `sources:` of what changed, a new dated source naming the
APIs and the project, and `read_on`. Comments, notes, quoting and line wrapping stay as they were
(PyYAML would drop the comments; a round-trip YAML library would still re-wrap the long quoted
notes). Every edit is also applied to the parsed data, and the edited text must parse to exactly that
data and validate as a catalog, or nothing is written.
"""

import datetime
import re
import textwrap
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ai_clusters.core.catalog import Catalog, region_of
from ai_clusters.core.catalog.models import CatalogData
from ai_clusters.core.strict_yaml import load_strict
from ai_clusters.tooling.catalog_refresh.compare import tpu_zones
from ai_clusters.tooling.catalog_refresh.listings import Listings


class WriteError(RuntimeError):
    """The edit would not give exactly the intended catalog: nothing was written."""


# ---- where an entry lives, in the data and in the text ---------------------------------------------

@dataclass(frozen=True)
class Entry:
    """A top-level list item (`section`, found by `key` == `value`), or a machine type inside one."""

    section: str
    key: str
    value: str
    machine_type: Optional[str] = None  # a `machine_types` item of the entry
    tpu_host: bool = False  # the machine type is under `gke: machine_types:` (TPU hosts)

    def data(self, doc: dict) -> dict:
        if not self.key:  # a mapping section (n1_defaults)
            return doc[self.section]
        item = next(i for i in doc[self.section] if _get(i, self.key) == self.value)
        if self.machine_type is None:
            return item
        types = item["gke"]["machine_types"] if self.tpu_host else item["machine_types"]
        return next(m for m in types if m["name"] == self.machine_type)

    def span(self, lines: list[str]) -> tuple[int, int, int]:
        """(first line, end, indent of the keys) of the entry in the text."""
        if not self.key:
            top = lines.index(f"{self.section}:")
            end = next(i for i in range(top + 1, len(lines)) if lines[i] and not lines[i].startswith((" ", "#")))
            return top, end, 2
        start, end = _section_item(lines, self.section, lambda block: _matches(block, self.key, self.value))
        if self.machine_type is None:
            return start, end, 2
        outer = _key_line(lines, start, end, "gke", 2) if self.tpu_host else None
        indent = 4 if self.tpu_host else 2
        lo = _key_line(lines, outer or start, end, "machine_types", indent)
        if lo is None:
            raise WriteError(f"no machine_types under {self.value}")
        head = f"{' ' * indent}- name: {self.machine_type}"
        first = next((i for i in range(lo + 1, end) if lines[i].rstrip() == head), None)
        if first is None:
            raise WriteError(f"no machine type {self.machine_type} under {self.value}")
        last = first + 1
        while last < end and (_indent(lines[last]) > indent or not lines[last].strip()):
            last += 1
        return first, last, indent + 2


def _get(item: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        item = item.get(part) if isinstance(item, dict) else None
    return item


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _matches(block: list[str], key: str, value: str) -> bool:
    *parents, leaf = key.split(".")
    pattern = re.compile(rf"^(- |\s+){re.escape(leaf)}: {re.escape(value)}\s*$")
    return any(pattern.match(line) for line in block[: 6 + len(parents)])


def _section_item(lines: list[str], section: str, match: Callable[[list[str]], bool]) -> tuple[int, int]:
    top = next((i for i, line in enumerate(lines) if line.rstrip() == f"{section}:"), None)
    if top is None:
        raise WriteError(f"no section {section}")
    i = top + 1
    while i < len(lines) and (lines[i].startswith((" ", "-", "#")) or not lines[i].strip()):
        if lines[i].startswith("- "):
            end = i + 1
            while end < len(lines) and (lines[end].startswith((" ", "#")) or not lines[end].strip()):
                end += 1
            if match(lines[i:end]):
                return i, end
            i = end
        else:
            i += 1
    raise WriteError(f"no matching item in {section}")


def _key_line(lines: list[str], start: int, end: int, key: str, indent: int) -> Optional[int]:
    """The line of `key:` at `indent` in [start, end); a list item's first key (`- key:`) counts at the indent after the dash."""
    for i in range(start, end):
        head, body = lines[i][:indent], lines[i][indent:]
        if body.startswith(f"{key}:") and head in (" " * indent, " " * (indent - 2) + "- "):
            return i
    return None


def _value_end(lines: list[str], at: int, indent: int, end: int) -> int:
    """The line after a key's value: its block-list items at the same indent, or its continuation lines."""
    i = at + 1
    while i < end and (lines[i].startswith(" " * indent + "- ") or _indent(lines[i]) > indent) and lines[i].strip():
        i += 1
    return i


def _flow(values: list[str], indent: int, key: str, width: int = 140) -> list[str]:
    """A flow list wrapped like the file's own (continuation lines indented by two more)."""
    out, line = [], f"{' ' * indent}{key}: ["
    for n, value in enumerate(values):
        piece = value + (", " if n < len(values) - 1 else "]")
        if len(line) + len(piece.rstrip()) > width and not line.endswith("["):
            out.append(line.rstrip())
            line = " " * (indent + 2)
        line += piece
    if not values:
        line += "]"
    return out + [line]


def _scalar(value: Any) -> str:
    if isinstance(value, (datetime.date,)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---- edits: each changes the data and the text the same way ----------------------------------------

@dataclass(frozen=True)
class SetValue:
    """Set (or add, or with None remove) a scalar, a block list (`block=True`) or a flow list of an entry."""

    entry: Entry
    key: str
    value: Any
    block: bool = False
    after: Optional[str] = None  # where a new key goes: after this key's value (else at the end of the entry)

    def apply_data(self, doc: dict) -> None:
        item = self.entry.data(doc)
        if self.value is None:
            item.pop(self.key, None)
        else:
            item[self.key] = list(self.value) if isinstance(self.value, (list, tuple)) else self.value

    def apply_text(self, lines: list[str]) -> None:
        start, end, indent = self.entry.span(lines)
        at = _key_line(lines, start, end, self.key, indent)
        new = self._lines(indent)
        if at is not None:
            stop = _value_end(lines, at, indent, end)
            lines[at:stop] = new
            return
        if self.value is None:
            return
        where = _key_line(lines, start, end, self.after, indent) if self.after else None
        pos = _value_end(lines, where, indent, end) if where is not None else end
        while pos > start + 1 and not lines[pos - 1].strip():
            pos -= 1
        lines[pos:pos] = new

    def _lines(self, indent: int) -> list[str]:
        pad = " " * indent
        if self.value is None:
            return []
        if self.block:
            return [f"{pad}{self.key}:"] + [f"{pad}- {v}" for v in self.value]
        if isinstance(self.value, (list, tuple)):
            return _flow(list(self.value), indent, self.key)
        return [f"{pad}{self.key}: {_scalar(self.value)}"]


@dataclass(frozen=True)
class CiteSource:
    """Add a source id to an entry's `sources:` (block or flow list)."""

    entry: Entry
    source: str

    def apply_data(self, doc: dict) -> None:
        sources = self.entry.data(doc).setdefault("sources", [])
        if self.source not in sources:
            sources.append(self.source)

    def apply_text(self, lines: list[str]) -> None:
        start, end, indent = self.entry.span(lines)
        at = _key_line(lines, start, end, "sources", indent)
        if at is None:
            raise WriteError(f"{self.entry.value} has no sources")
        stop = _value_end(lines, at, indent, end)
        if any(line.strip() in (f"- {self.source}",) or f" {self.source}," in line or f"[{self.source}" in line for line in lines[at:stop]):
            return
        if lines[at].rstrip().endswith("]"):
            lines[at] = lines[at].rstrip()[:-1] + f", {self.source}]"
        else:
            lines[stop:stop] = [f"{' ' * indent}- {self.source}"]


@dataclass(frozen=True)
class NewSource:
    """A dated `sources:` entry naming the APIs read and the project."""

    source_id: str
    url: str
    title: str
    read_on: datetime.date

    def apply_data(self, doc: dict) -> None:
        doc["sources"].setdefault(self.source_id, {"url": self.url, "title": self.title, "read_on": self.read_on})

    def apply_text(self, lines: list[str]) -> None:
        if any(line.rstrip() == f"  {self.source_id}:" for line in lines):
            return
        top = lines.index("sources:")
        end = next(i for i in range(top + 1, len(lines)) if lines[i] and not lines[i].startswith((" ", "#")))
        title = textwrap.wrap(f"title: '{self.title.replace(chr(39), chr(39) * 2)}'", width=136, subsequent_indent="  ", break_on_hyphens=False)
        lines[end:end] = [f"  {self.source_id}:", f"    url: {self.url}", *(f"    {t}" for t in title), f"    read_on: {self.read_on.isoformat()}"]


@dataclass(frozen=True)
class ReadOn:
    """The file's `read_on` date."""

    read_on: datetime.date

    def apply_data(self, doc: dict) -> None:
        doc["read_on"] = self.read_on.isoformat()

    def apply_text(self, lines: list[str]) -> None:
        i = next(i for i, line in enumerate(lines) if line.startswith("read_on:"))
        lines[i] = f"read_on: '{self.read_on.isoformat()}'"


# ---- what to change --------------------------------------------------------------------------------

def source_id(project: str, day: datetime.date) -> str:
    return f"google-apis-{project}-{day.isoformat()}"


def family_zones(per_type: list[frozenset[str]]) -> set[str]:
    """A family's `zones`: the zone set most of its machine types share (the first type's on a tie); the others list their own."""
    counts = Counter(per_type)
    best = max(counts.values())
    return set(next(z for z in per_type if counts[z] == best))


def planned_edits(cat: Catalog, listings: Listings, day: datetime.date) -> list[Any]:
    """The edits that make zones and shapes what `listings` says (nothing for what Google lists nowhere)."""
    sid = source_id(listings.project, day)
    edits: list[Any] = []
    changed: list[Entry] = []

    for fam in cat.data.gpu_families:
        entry = Entry("gpu_families", "id", fam.id)
        listed = {mt.name: frozenset(listings.zones_of(mt.name)) for mt in fam.machine_types if listings.zones_of(mt.name)}
        touched = False
        if listed:
            default = family_zones(list(listed.values()))
            if default != set(fam.zones):
                union = set().union(*listed.values())
                edits += [
                    SetValue(entry, "zones", sorted(default), block=True),
                    SetValue(entry, "zones_as_of", day, after="zones"),
                    SetValue(entry, "listed_regions", sorted({region_of(z) for z in union}), after="zones_as_of"),
                ]
                touched = True
            for mt in fam.machine_types:
                own = listed.get(mt.name)
                want = (sorted(own) if own != default else None) if own is not None else (sorted(mt.zones) if mt.zones else None)
                if want != (sorted(mt.zones) if mt.zones else None):
                    edits.append(SetValue(Entry("gpu_families", "id", fam.id, mt.name), "zones", want, block=True))
                    touched = True
        for mt in fam.machine_types:
            row = listings.shape_of(mt.name)
            if row is None:
                continue
            mt_entry = Entry("gpu_families", "id", fam.id, mt.name)
            for key, have, new in (("gpus", mt.gpus, row.gpus), ("vcpus", mt.vcpus, row.vcpus), ("memory_gb", mt.memory_gb, row.memory_gb)):
                if have != new:
                    edits.append(SetValue(mt_entry, key, new))
                    touched = True
        if touched:
            changed.append(entry)

    for gpu in cat.data.n1_attachable_gpus:
        google = listings.accelerator_types.get(gpu.gpu.compute_engine)
        if google and google != set(gpu.zones):
            entry = Entry("n1_attachable_gpus", "gpu.compute_engine", gpu.gpu.compute_engine)
            edits += [SetValue(entry, "zones", sorted(google), block=True), SetValue(entry, "zones_as_of", day, after="zones")]
            changed.append(entry)

    for gen in cat.data.tpu_generations:
        entry = Entry("tpu_generations", "id", gen.id)
        touched = False
        google = tpu_zones(cat, listings, gen.id)
        if google and google != set(gen.zones):
            edits += [SetValue(entry, "zones", sorted(google), block=True), SetValue(entry, "zones_as_of", day, after="zones")]
            touched = True
        for host in gen.gke.machine_types if gen.gke else []:
            row = listings.shape_of(host.name)
            if row is not None and (host.vcpus, host.memory_gb) != (row.vcpus, row.memory_gb):
                host_entry = Entry("tpu_generations", "id", gen.id, host.name, tpu_host=True)
                edits += [SetValue(host_entry, "vcpus", row.vcpus), SetValue(host_entry, "memory_gb", row.memory_gb)]
                touched = True
        if touched:
            changed.append(entry)

    for m in cat.data.n1_machine_types:
        row = listings.shape_of(m.name)
        if row is not None and (m.vcpus, m.memory_gb) != (row.vcpus, row.memory_gb):
            entry = Entry("n1_machine_types", "name", m.name)
            edits += [SetValue(entry, "vcpus", row.vcpus), SetValue(entry, "memory_gb", row.memory_gb)]
            changed.append(Entry("n1_defaults", "", ""))

    if not edits:
        return []
    title = (
        "Compute Engine machineTypes/acceleratorTypes aggregatedList and Cloud TPU acceleratorTypes/runtimeVersions per zone, "
        f"read by `ai-clusters catalog refresh --write` in project {listings.project}"
    )
    url = f"https://compute.googleapis.com/compute/v1/projects/{listings.project}/aggregated/machineTypes"
    cites = [CiteSource(e, sid) for e in dict.fromkeys(e for e in changed if e.section != "n1_defaults")]
    if any(e.section == "n1_defaults" for e in changed):
        cites.append(CiteSource(Entry("n1_defaults", "", ""), sid))
    return [NewSource(sid, url, title, day), *edits, *cites, ReadOn(day)]


def rewrite(text: str, edits: list[Any]) -> str:
    """The catalog text with `edits` applied; WriteError unless it parses to exactly the edited data and validates."""
    doc = load_strict(text)
    lines = text.split("\n")
    for edit in edits:
        edit.apply_data(doc)
        edit.apply_text(lines)
    new_text = "\n".join(lines)
    if load_strict(new_text) != doc:
        raise WriteError("the edited text does not parse to the intended catalog; catalog.yaml was left as it was")
    try:
        CatalogData.model_validate(doc)
    except ValueError as exc:
        raise WriteError(f"the refreshed catalog would not validate: {str(exc).splitlines()[0]}") from None
    return new_text
