"""Shared test helpers: run Pulumi code under the recording mocks and look at what was registered."""

from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import pytest

from ai_clusters.tooling.rpc_status import share_rpc_status

share_rpc_status()  # the provider tests (pulumi.provider) and the pre-flight tests (Google's clients) share this process

from ai_clusters.tooling.plan.engine import ProgramRun, run_mocked
from ai_clusters.tooling.plan.mocks import Registration

ROOT = Path(__file__).resolve().parent.parent

# The reference stacks this project ships, named: a stack a user adds to stacks/ is not a test case
# (every test that runs "the repository's stacks" runs these).
REFERENCE_STACKS = (
    "ce-a3high-train",
    "ce-a3mega-train",
    "ce-a3ultra-rdma",
    "ce-g2-serve",
    "dev",
    "gke-a3mega-train",
    "gke-l4-serve",
    "gke-tpu-v6e",
    "prod",
    "slurm-a3high",
    "slurm-a3mega",
    "staging",
    "tpu-multislice",
    "tpu-serve",
    "tpu-train",
    "tpu-v5p-spot-queued",
    "tpu-v6e-multislice-flex",
    "vertex-finetune",
    "vertex-serve",
)


class Registered:
    """The resources a mocked run registered, with lookups for assertions."""

    def __init__(self, run: ProgramRun):
        self.run = run
        self.all: list[Registration] = run.registrations

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.all if r.type == type_token]

    def one(self, type_token: str, name: Optional[str] = None) -> Registration:
        hits = [r for r in self.of_type(type_token) if name is None or r.name == name]
        assert len(hits) == 1, f"expected one {type_token} {name or ''}, got {[r.name for r in hits]}"
        return hits[0]

    def named(self, name: str) -> Registration:
        hits = [r for r in self.all if r.name == name]
        assert len(hits) == 1, f"expected one resource named {name}, got {len(hits)}"
        return hits[0]

    def children_of(self, parent: Registration) -> list[Registration]:
        return [r for r in self.all if r.parent == parent.urn]

    def types(self) -> set[str]:
        return {r.type for r in self.all}


def mocked(program: Callable[[], Any], config: Optional[dict[str, Any]] = None) -> Registered:
    """Run `program` (which creates resources) under mocks; the project is mock-project in us-central1."""
    cfg = {"gcp:project": "mock-project", "gcp:region": "us-central1", **(config or {})}
    return Registered(run_mocked(program, config=cfg))


@pytest.fixture
def run() -> Callable[..., Registered]:
    return mocked


def labels_of(r: Registration) -> dict:
    return r.inputs.get("labels") or (r.inputs.get("nodeConfig") or {}).get("resourceLabels") or {}


def only(items: Iterable[Any]) -> Any:
    items = list(items)
    assert len(items) == 1, items
    return items[0]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-snapshots", action="store_true", help="rewrite tests/data/plans/*.json from the current plans")
