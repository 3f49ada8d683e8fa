"""Facts about the machine a benchmark runs on: host CPU, the Compute Engine machine, GPU load.

Nothing here touches the network unless asked: the machine type comes from the user's flags, or
from the Compute Engine metadata server only with `--from-metadata`. The metadata host can be
redirected with GCE_METADATA_HOST (or GCE_METADATA_IP), the variables Google's auth library and
JAX's Cloud TPU cluster detection read.
"""

import os
import platform
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Optional

from ai_clusters.core.catalog import Catalog, catalog, one_of
from ai_clusters.core.spec.errors import Problem, SpecError
from ai_clusters.tooling.benchmark.results import LOCAL, Host, Machine, MachineSource
from ai_clusters.core.naming import last_segment

METADATA_HOST = "metadata.google.internal"
METADATA_ENV = ("GCE_METADATA_HOST", "GCE_METADATA_IP")


class MetadataError(RuntimeError):
    """The metadata server could not be read (not on Google Cloud, or no answer in time)."""


def host_info() -> Host:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    memory_gb = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return Host(cpu_model=cpu, cpu_count=os.cpu_count() or 1, memory_gb=memory_gb, os=platform.platform())


def machine_from_flags(
    machine_type: Optional[str], accelerator: Optional[str], tpu_type: Optional[str], cat: Optional[Catalog] = None
) -> Machine:
    """The machine the user named; names the catalog prices are checked against it.

    A machine type the catalog does not list is accepted (a CPU machine, say): it has no list price.
    """
    cat = cat or catalog()
    problems = []
    if machine_type is not None and not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)+", machine_type):
        problems.append(Problem("machine-type", f"{machine_type!r} is not a Compute Engine machine type name"))
    if accelerator is not None:
        if accelerator not in cat.n1_gpus:
            problems.append(Problem("accelerator", f"{accelerator!r} does not attach to N1; allowed: {one_of(sorted(cat.n1_gpus))}"))
        if not (machine_type or "").startswith("n1-"):
            problems.append(Problem("accelerator", "GPUs are attached to N1 machine types only: pass --machine-type n1-…"))
    if tpu_type is not None and tpu_type not in cat.tpu_types:
        problems.append(Problem("tpu-type", f"{tpu_type!r} is not a TPU accelerator type in the catalog; e.g. {one_of(list(cat.tpu_types), 8)}"))
    if problems:
        raise SpecError(problems, subject="benchmark")
    named = machine_type is not None or tpu_type is not None
    return Machine(
        machine_type=machine_type or LOCAL,
        accelerator=accelerator,
        tpu_type=tpu_type,
        source=MachineSource.FLAG if named else MachineSource.DEFAULT,
    )


def _metadata(path: str, host: str, timeout: float) -> Optional[str]:
    """One value below computeMetadata/v1/ (None when the key does not exist, e.g. on a non-TPU VM)."""
    req = urllib.request.Request(f"http://{host}/computeMetadata/v1/{path}", headers={"Metadata-Flavor": "Google"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - fixed http URL
            return resp.read().decode("utf-8").strip()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise MetadataError(f"the metadata server at {host} answered {exc.code} for {path}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise MetadataError(f"the metadata server at {host} did not answer ({exc}); are you on Google Cloud?") from None


def machine_from_metadata(timeout: float = 2.0) -> Machine:
    """The VM's machine type and zone, and on a TPU VM its accelerator type.

    instance/machine-type reads `projects/NUM/machineTypes/TYPE` and instance/zone
    `projects/NUM/zones/ZONE`; TPU VMs carry `instance/attributes/accelerator-type`.
    """
    host = next((os.environ[v] for v in METADATA_ENV if os.environ.get(v)), METADATA_HOST)
    machine_type = _metadata("instance/machine-type", host, timeout)
    zone = _metadata("instance/zone", host, timeout)
    tpu_type = _metadata("instance/attributes/accelerator-type", host, timeout)
    if not machine_type:
        raise MetadataError(f"the metadata server at {host} has no instance/machine-type")
    return Machine(
        machine_type=last_segment(machine_type),
        zone=last_segment(zone) if zone else None,
        tpu_type=tpu_type or None,
        source=MachineSource.METADATA,
    )


# --- NVIDIA GPU utilisation ---------------------------------------------------------------------
def nvidia_smi() -> Optional[str]:
    return shutil.which("nvidia-smi")


def nvidia_driver(binary: Optional[str] = None) -> Optional[str]:
    binary = binary or nvidia_smi()
    if not binary:
        return None
    try:
        out = subprocess.run(
            [binary, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if lines else None


@dataclass
class UtilisationSampler:
    """Polls `nvidia-smi` in a thread; the mean and max over chosen time windows come out.

    Each sample is the mean utilisation.gpu (percent of time a kernel ran) over all GPUs.
    """

    binary: str
    interval: float = 0.25
    samples: list[tuple[float, float]] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Optional[threading.Thread] = None

    def _poll(self) -> None:
        cmd = [self.binary, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
        while not self._stop.is_set():
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=True).stdout
                values = [float(v) for v in out.split() if v.replace(".", "", 1).isdigit()]
                if values:
                    self.samples.append((time.perf_counter(), sum(values) / len(values)))
            except (OSError, subprocess.SubprocessError, ValueError):
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> "UtilisationSampler":
        self._thread = threading.Thread(target=self._poll, name="nvidia-smi", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def in_windows(self) -> list[float]:
        return [v for t, v in self.samples if any(a <= t <= b for a, b in self.windows)]
