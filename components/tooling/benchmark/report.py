"""Results from several machines side by side: speed-up over CPU and cost per epoch per tier.

Results are grouped by workload (only equal workloads are compared). Within a group, the
baseline is the fastest CPU-only result; each machine is priced from the catalog (the list price
of the machine type, of the N1 machine plus its GPUs, or of the TPU chips used) in the region
and provisioning model asked for. A CPU run on a machine that is not a Google Cloud one (`local`)
is priced as the machine a user would rent for it: the N1 standard machine type with at least as
many vCPUs as the run's host had. Every price says what it is the price of (machine, provisioning
model, region); where the catalog has no price for the model asked for, the on-demand price stands
in and says so. A machine the catalog has no price for shows "no list price".

Each workload opens with CPU and GPU side by side (the fastest of each): seconds per epoch,
samples per second, accuracy, the price and the cost per epoch, and the GPU's speed-up over the CPU.
A side without a result says "not measured" rather than borrowing a figure.

The markdown table needs nothing but this module; the chart needs matplotlib (validate extra),
imported when a chart is drawn. It draws on a bare `Figure`, so no display is needed.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ai_clusters.core.catalog import Catalog, CatalogError, catalog
from ai_clusters.core.enums import ProvisioningModel
from ai_clusters.tooling.benchmark.results import LOCAL, BenchmarkResult, Workload

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NO_PRICE = "no list price"
COLUMNS = (
    "machine",
    "tier",
    "priced as",
    "devices",
    "time / epoch",
    "compile",
    "samples / s",
    "speed-up vs CPU",
    "test accuracy",
    "peak accel. memory",
    "accel. utilisation",
    "$ / hour",
    "$ / epoch",
)


@dataclass(frozen=True)
class Price:
    """What the catalog says one run's machine costs per hour (None: no list price), and what it is the price of."""

    tier: str
    hourly_usd: Optional[float] = None
    region: Optional[str] = None
    note: str = NO_PRICE
    machine: Optional[str] = None
    """The machine priced: the run's own, or for a `local` CPU run the N1 machine type a user would rent."""
    provisioning: Optional[ProvisioningModel] = None
    """The provisioning model the price is of (on-demand stands in where the catalog has none for the one asked)."""

    @property
    def basis(self) -> str:
        """`n1-standard-2, on-demand, us-central1, $0.0950/h`: which price, of what, from where."""
        if self.hourly_usd is None:
            return self.note
        model = self.provisioning.value if self.provisioning else "list"
        return f"{self.machine}, {model}, {self.region}, ${self.hourly_usd:,.4f}/h"

    def hourly_text(self, asked: ProvisioningModel) -> str:
        """The hourly price, marked when it is not on-demand or not the model asked for."""
        if self.hourly_usd is None:
            return self.note
        text = _usd(self.hourly_usd, 4 if self.hourly_usd < 1 else 2)
        if self.provisioning is not None and self.provisioning != ProvisioningModel.ON_DEMAND:
            text += f" ({self.provisioning.value})"
        elif self.provisioning == ProvisioningModel.ON_DEMAND and asked != ProvisioningModel.ON_DEMAND:
            text += f" (on-demand: no {asked.value} price)"
        return text


def rented_cpu_machine(vcpus: int, cat: Optional[Catalog] = None) -> Optional[str]:
    """The N1 standard machine type a user would rent for a CPU run on `vcpus` logical CPUs: the smallest with at
    least as many (N1 is the CPU series the catalog prices)."""
    cat = cat or catalog()
    fitting = [m for m in cat.n1_machines.values() if m.name.startswith("n1-standard-") and m.vcpus >= vcpus and m.prices]
    return min(fitting, key=lambda m: m.vcpus).name if fitting else None


def price_of(result: BenchmarkResult, region: str, provisioning: ProvisioningModel, cat: Optional[Catalog] = None) -> Price:
    """The catalog tier and hourly list price of the machine a result came from (or, for a local CPU run, of the one a user would rent)."""
    cat = cat or catalog()
    m = result.machine
    try:
        if m.tpu_type:
            tpu = cat.tpu_slice(m.tpu_type)
            # Priced per chip for the chips the run used (JAX shows one device per chip from v4 on).
            per_chip, where, model = cat.quote(tpu.generation.prices, region, provisioning)
            hourly = per_chip * result.devices.count if per_chip is not None else None
            return Price(tpu.generation.name, hourly, where, machine=f"{result.devices.count} x {tpu.generation.name} chip", provisioning=model)
        if m.accelerator:
            shape = cat.n1_shape(m.machine_type, m.accelerator, result.devices.count)
            _, _, model = cat.quote(cat.n1_gpus[m.accelerator].prices, region, provisioning)
        elif cat.is_gpu_machine(m.machine_type):
            shape = cat.shape(m.machine_type)
            _, _, model = cat.quote(cat.machines[m.machine_type][1].prices, region, provisioning)
        elif result.is_cpu:
            rented = m.machine_type if m.machine_type in cat.n1_machines else (rented_cpu_machine(result.host.cpu_count, cat) if m.machine_type == LOCAL else None)
            if rented is None:
                return Price("CPU", note=NO_PRICE)
            hourly, where, model = cat.quote(cat.n1_machines[rented].prices, region, provisioning)
            return Price("CPU", hourly, where, machine=rented, provisioning=model)
        else:
            return Price("—")
        hourly, where = cat.node_price(shape, region, provisioning)
        return Price(shape.family.name, hourly, where, machine=m.name, provisioning=model if hourly is not None else None)
    except CatalogError:
        return Price("—")


@dataclass(frozen=True)
class Row:
    result: BenchmarkResult
    price: Price
    speedup: Optional[float]

    @property
    def cost_per_epoch_usd(self) -> Optional[float]:
        if self.price.hourly_usd is None:
            return None
        return self.price.hourly_usd * self.result.timing.seconds_per_epoch / 3600.0


@dataclass(frozen=True)
class WorkloadReport:
    """The results of one workload, fastest first, against the CPU baseline."""

    workload: Workload
    baseline: Optional[BenchmarkResult]
    rows: list[Row]
    chart_name: str
    """The chart's file name: the model's name, numbered when two workloads share a model."""


def build(results: list[BenchmarkResult], region: str, provisioning: ProvisioningModel, cat: Optional[Catalog] = None) -> list[WorkloadReport]:
    groups: dict[str, list[BenchmarkResult]] = {}
    for r in results:
        groups.setdefault(r.workload.signature, []).append(r)
    reports: list[tuple[Workload, Optional[BenchmarkResult], list[Row]]] = []
    for members in groups.values():
        cpus = [r for r in members if r.is_cpu]
        baseline = min(cpus, key=lambda r: r.timing.seconds_per_epoch) if cpus else None
        rows = [
            Row(
                r,
                price_of(r, region, provisioning, cat),
                baseline.timing.seconds_per_epoch / r.timing.seconds_per_epoch if baseline else None,
            )
            for r in sorted(members, key=lambda r: r.timing.seconds_per_epoch)
        ]
        reports.append((members[0].workload, baseline, rows))
    reports.sort(key=lambda rep: (rep[0].model.value, rep[0].signature))
    out: list[WorkloadReport] = []
    for workload, baseline, rows in reports:
        same = sum(1 for o in out if o.workload.model == workload.model)
        name = f"{workload.model.value}.png" if not same else f"{workload.model.value}-{same + 1}.png"
        out.append(WorkloadReport(workload, baseline, rows, name))
    return out


# --- formatting ---------------------------------------------------------------------------------
def _seconds(s: float) -> str:
    return f"{s:,.2f} s" if s < 100 else f"{s:,.0f} s"


def _bytes(n: Optional[int]) -> str:
    return "—" if n is None else f"{n / 2**30:,.2f} GiB"


def _usd(x: Optional[float], digits: int = 2) -> str:
    return NO_PRICE if x is None else f"${x:,.{digits}f}"


def _backend(r: BenchmarkResult) -> str:
    backend = r.software.backend
    return r.devices.platform if not backend or backend == r.devices.platform else f"{r.devices.platform}: {backend}"


def cells(row: Row, asked: ProvisioningModel = ProvisioningModel.ON_DEMAND) -> list[str]:
    r = row.result
    util = r.utilisation
    return [
        r.machine.name,
        row.price.tier,
        row.price.machine or "—",
        f"{r.devices.count} x {r.devices.kind}" if not r.is_cpu else f"CPU ({r.host.cpu_count} cores)",
        _seconds(r.timing.seconds_per_epoch),
        _seconds(r.timing.compile_seconds),
        f"{r.timing.samples_per_second:,.0f}",
        "—" if row.speedup is None else f"{row.speedup:,.1f}x",
        f"{r.accuracy:.1%}",
        _bytes(r.memory.peak_bytes),
        "—" if util.accelerator_percent_mean is None else f"{util.accelerator_percent_mean:.0f} %",
        row.price.hourly_text(asked),
        _usd(row.cost_per_epoch_usd, 4) if row.cost_per_epoch_usd is not None else row.price.note,
    ]


SIDES = ("CPU", "GPU")
"""The two sides every workload's comparison shows, present or not."""


def fastest(rep: WorkloadReport, side: str) -> Optional[Row]:
    """The fastest row of one side: CPU-only runs, or runs on GPUs."""
    platform = side.lower()
    rows = [row for row in rep.rows if row.result.devices.platform == platform]
    return rows[0] if rows else None  # rows are fastest first


def side_by_side(rep: WorkloadReport, asked: ProvisioningModel) -> list[list[str]]:
    """Rows of the CPU-and-GPU comparison: a metric, then one cell per side ("not measured" where there is no run)."""
    picked = {side: fastest(rep, side) for side in SIDES}

    def row(label: str, cell) -> list[str]:  # type: ignore[no-untyped-def]
        return [label, *("not measured" if picked[side] is None else cell(picked[side]) for side in SIDES)]

    gpu, cpu = picked["GPU"], picked["CPU"]
    speedup = (
        f"{cpu.result.timing.seconds_per_epoch / gpu.result.timing.seconds_per_epoch:,.1f}x"
        if gpu is not None and cpu is not None
        else "needs a CPU and a GPU result"
    )
    return [
        row("run on", lambda r: r.result.label),
        row("seconds per epoch", lambda r: _seconds(r.result.timing.seconds_per_epoch)),
        row("samples per second", lambda r: f"{r.result.timing.samples_per_second:,.0f}"),
        row("test accuracy", lambda r: f"{r.result.accuracy:.1%}"),
        row("priced as", lambda r: r.price.basis),
        row("$ / hour", lambda r: r.price.hourly_text(asked)),
        row("$ / epoch", lambda r: _usd(r.cost_per_epoch_usd, 4) if r.cost_per_epoch_usd is not None else r.price.note),
        ["GPU speed-up over CPU", speedup, ""],
    ]


def markdown(reports: list[WorkloadReport], region: str, provisioning: ProvisioningModel, with_charts: bool = True) -> str:
    cat = catalog()
    lines = [
        "# Benchmark results",
        "",
        f"Cost per epoch = time per epoch x the catalog's {provisioning.value} list price in {region} "
        f"(catalog read {cat.data.read_on})"
        + (
            f"; prices are marked {provisioning.value}, and where the catalog has no {provisioning.value} price the "
            "on-demand one stands in and says so"
            if provisioning != ProvisioningModel.ON_DEMAND
            else ""
        )
        + ". A CPU run on a local machine is priced as the N1 standard machine type with as many vCPUs as its host had. "
        "Speed-up is over the fastest CPU-only result of the same workload.",
    ]
    for rep in reports:
        lines += ["", f"## {rep.workload.describe()}", ""]
        lines += ["| | " + " | ".join(SIDES) + " |", "|---|" + "---:|" * len(SIDES)]
        lines += ["| " + " | ".join(cells_) + " |" for cells_ in side_by_side(rep, provisioning)]
        lines.append("")
        if with_charts:
            lines += [f"![{rep.workload.model.value}: speed-up and cost per epoch]({rep.chart_name})", ""]
        lines.append("| " + " | ".join(COLUMNS) + " |")
        lines.append("|" + "|".join("---" if i < 4 else "---:" for i in range(len(COLUMNS))) + "|")
        lines += ["| " + " | ".join(cells(row, provisioning)) + " |" for row in rep.rows]
        if rep.baseline is None:
            lines += ["", "No CPU-only result for this workload, so no speed-up."]
        lines += ["", "Runs:", ""]
        for row in rep.rows:
            r = row.result
            lines.append(
                f"- {r.machine.name}: {r.created:%Y-%m-%d}, host {r.host.cpu_model} ({r.host.cpu_count} cores), "
                f"JAX {r.software.jax} ({_backend(r)}), "
                f"{len(r.epochs)} epochs (accuracy by epoch {', '.join(f'{e.test_accuracy:.1%}' for e in r.epochs)})"
            )
    return "\n".join(lines) + "\n"


def _bars(ax, values: list[Optional[float]], color: str, texts: list[str], xlabel: str) -> None:  # type: ignore[no-untyped-def]
    ys = list(range(len(values)))
    ax.barh(ys, [v or 0.0 for v in values], color=color)
    for y, v, text in zip(ys, values, texts):
        ax.annotate(text, (v or 0.0, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9)
    ax.set_xlim(0, max([v for v in values if v] or [1.0]) * 1.35)
    ax.set_xlabel(xlabel)


def chart(rep: WorkloadReport) -> "Figure":
    """Three horizontal bar panels: time per epoch, speed-up over CPU, cost per epoch at list price."""
    from matplotlib.figure import Figure

    rows = rep.rows
    fig = Figure(figsize=(14, 1.7 + 0.55 * len(rows)), layout="constrained")
    time_ax, speed_ax, cost_ax = fig.subplots(1, 3, sharey=True)
    seconds = [row.result.timing.seconds_per_epoch for row in rows]
    _bars(time_ax, list(seconds), "#FBBC04", [_seconds(s) for s in seconds], "time per epoch (s), compilation excluded")
    speedups = [row.speedup for row in rows]
    _bars(
        speed_ax,
        speedups,
        "#4285F4",
        [f"{s:,.1f}x" if s is not None else "no CPU result" for s in speedups],
        "speed-up over CPU (x)",
    )
    costs = [row.cost_per_epoch_usd for row in rows]
    _bars(cost_ax, costs, "#34A853", [_usd(c, 4) if c is not None else row.price.note for c, row in zip(costs, rows)], "cost per epoch (USD, list price)")
    time_ax.set_yticks(range(len(rows)), [row.result.label for row in rows])
    time_ax.invert_yaxis()
    fig.suptitle(rep.workload.describe(), fontsize=10)
    return fig


def write(
    results: list[BenchmarkResult], out_dir: Path, region: str, provisioning: ProvisioningModel, charts: bool = True
) -> tuple[list[WorkloadReport], list[Path]]:
    """Write report.md and (with `charts`) one PNG chart per workload into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reports = build(results, region, provisioning)
    written: list[Path] = []
    for rep in reports if charts else []:
        chart(rep).savefig(out_dir / rep.chart_name, dpi=120)
        written.append(out_dir / rep.chart_name)
    md = out_dir / "report.md"
    md.write_text(markdown(reports, region, provisioning, with_charts=charts), encoding="utf-8")
    return reports, [md, *written]
