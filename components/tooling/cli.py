"""The `ai-clusters` command line: plan, recommend, catalog (and the commands of later modules).

Exit codes: 0 fine, 1 a check failed (mandatory policy, pre-flight), 2 bad input, 3 a check could
not be made. Bad input prints one line per problem with its key path, never a traceback.
"""

import contextlib
import io
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ai_clusters.tooling.benchmark.config import ComputeDtype, ModelKind
from ai_clusters.core.catalog import CatalogError, catalog, region_of
from ai_clusters.core.enums import ProvisioningModel, WorkloadKind
from ai_clusters.core.spec import Problem, SpecError

if TYPE_CHECKING:
    from ai_clusters.core.advisor import Candidate

app = typer.Typer(
    name="ai-clusters",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (CI logs, README examples) gets wide tables instead of rich's default 80 columns.
out = Console() if sys.stdout.isatty() else Console(width=160)
# Messages keep one line each, however narrow the terminal: CI logs and greps read them whole.
err = Console(stderr=True, soft_wrap=True)


class PlanFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"
    sarif = "sarif"


class ReportFormat(str, Enum):
    """The formats of a report (diff, pre-flight)."""

    text = "text"
    markdown = "markdown"
    json = "json"


def say(label: str, style: str, message: str, console: Optional[Console] = None) -> None:
    """One message: a coloured label (`error:`, `wrote`), then the text exactly as written (never read as rich markup, so
    `^[a-z]…$` and `clusters[0]` print as they are)."""
    (console or err).print(Text.assemble((label, style), " ", message), highlight=False)


def error(message: str) -> None:
    say("error:", "red", message)


def note(message: str) -> None:
    say("note:", "yellow", message)


def emit(as_text: bool, output: Optional[Path], text: Callable[[Console], None], body: Callable[[], str], width: int = 200) -> None:
    """A report as rich text on the terminal (or plain in `output`), or its body (markdown, JSON, SARIF) on standard output (or in `output`)."""
    if as_text:
        if output:
            write_output(output, rendered(text, width))
        else:
            text(out)
        return
    if output:
        write_output(output, body() + "\n")
    else:
        sys.stdout.write(body() + "\n")


def emit_report(fmt: str, output: Optional[Path], renderer: Any, report: Any) -> None:
    """A report through a render module with `text(report, console)`, `markdown(report)` and `as_json(report)`."""
    emit(fmt == "text", output, lambda console: renderer.text(report, console), lambda: renderer.as_json(report) if fmt == "json" else renderer.markdown(report))


def fail_input(message: str) -> "typer.Exit":
    error(message)
    return typer.Exit(2)


def bad_spec(exc: SpecError) -> "typer.Exit":
    if exc.subject and not exc.problems:
        error(exc.subject)
    else:
        prefix = f"{exc.subject}: " if exc.subject else ""
        for problem in exc.problems:
            error(f"{prefix}{problem}")
    return typer.Exit(2)


def output_file(path: Optional[Path], option: str = "--output") -> Optional[Path]:
    """Check an `--output` file before any work: its folder must exist and it must not be a folder (exit 2)."""
    if path is None or str(path) == "-":
        return path
    if path.is_dir():
        raise fail_input(f"{option} {path}: is a folder; give the file to write")
    if not path.parent.is_dir():
        raise fail_input(f"{option} {path}: the folder {path.parent} does not exist")
    return path


def output_folder(path: Path) -> Path:
    """Check an `--output` folder before any work: it may be new, but its parent must exist (exit 2)."""
    if path.exists() and not path.is_dir():
        raise fail_input(f"--output {path}: is a file; give a folder")
    if not path.exists() and not path.parent.is_dir():
        raise fail_input(f"--output {path}: the folder {path.parent} does not exist")
    return path


def write_output(path: Path, text: str) -> None:
    """Write what a command made to its `--output` file; a file that cannot be written is bad input (exit 2)."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail_input(f"--output {path}: cannot be written ({exc.strerror or exc})") from None


def rendered(draw: Callable[[Console], None], width: int) -> str:
    """What a rich renderer draws, as plain text (for `--output` files)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, soft_wrap=False)
    draw(console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def known_region(region: str, option: str = "--region") -> str:
    """A region the catalog knows, else exit 2 with the nearest names."""
    from ai_clusters.core.places import check_region

    try:
        return check_region(region)
    except CatalogError as exc:
        raise fail_input(f"{option} {exc}") from None


def known_zone(zone: str, option: str = "--zone") -> str:
    """A zone the catalog knows, else exit 2 with the nearest names."""
    from ai_clusters.core.places import check_zone

    try:
        return check_zone(zone)
    except CatalogError as exc:
        raise fail_input(f"{option} {exc}") from None


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"ai-clusters {version('ai-clusters')}\n")
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """AI accelerator clusters on Google Cloud: offline plan, advisor, catalog, pre-flight, Cluster Toolkit blueprints.

    Exit codes of every command: 0 fine, 1 a check failed (a mandatory policy, pre-flight, no feasible tier), 2 bad input (one line per problem, naming the key path; never a traceback), 3 a check could not be made (the policy pack, a provider, Google Cloud unreachable).
    """


@app.command()
def plan(
    stack: str = typer.Option("dev", "--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml."),
    format: PlanFormat = typer.Option(PlanFormat.text, "--format", "-f", help="text, markdown, json or sarif."),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="Folder of Pulumi.yaml (or below it)."),
    policy: bool = typer.Option(True, "--policy/--no-policy", help="Run the policy pack over the planned resources."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of standard output."),
) -> None:
    """Run the stack's Pulumi program under mocks: resources, hourly cost, policy verdicts.

    Exit codes: 0 fine, 1 a mandatory policy failed, 2 bad input (one line per problem, naming the key path and the allowed values), 3 the policy pack could not run.
    """
    from ai_clusters.tooling.plan import PlanInputError, make_plan
    from ai_clusters.tooling.plan import render

    output_file(output)

    runner = None
    if policy:
        from ai_clusters.tooling.plan.policy import run_policy_pack

        runner = run_policy_pack
    from ai_clusters.tooling.plan.policy import PolicyPackError

    try:
        with err.status(f"planning stack {stack} …"):
            result = make_plan(stack, project_dir, policy_runner=runner)
    except PlanInputError as exc:
        raise fail_input(str(exc)) from None
    except SpecError as exc:
        raise bad_spec(exc) from None
    except PolicyPackError as exc:
        error(str(exc))
        raise typer.Exit(3) from None

    def body() -> str:
        if format == PlanFormat.json:
            return json.dumps(result.to_json(), indent=2, sort_keys=False)
        if format == PlanFormat.markdown:
            return render.markdown(result)
        from ai_clusters.tooling.plan.sarif import sarif

        return json.dumps(sarif(result), indent=2)

    emit(format == PlanFormat.text, output, lambda console: render.text(result, console), body, width=160)
    raise typer.Exit(result.exit_code)


@app.command()
def diff(
    base: str = typer.Option(..., "--base", "-b", help="Git revision to compare with: a branch, tag or commit (origin/main in CI)."),
    stack: Optional[list[str]] = typer.Option(
        None, "--stack", "-s", help="Stack to compare (repeat for several). Default: every stack the change touches."
    ),
    format: ReportFormat = typer.Option(ReportFormat.text, "--format", "-f", help="text, markdown (the pull-request comment) or json."),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="Folder of Pulumi.yaml (or below it), in a git work tree."),
    policy: bool = typer.Option(True, "--policy/--no-policy", help="Run the policy pack on both sides."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of standard output."),
    max_chars: int = typer.Option(
        65000, "--max-chars", min=2000, help="markdown: the most characters the comment may have (GitHub refuses over 65,536; room is left for the comment action's marker)."
    ),
    full_output: Optional[Path] = typer.Option(None, "--full-output", help="markdown: also write the whole report, never shortened, here."),
    details_url: Optional[str] = typer.Option(None, "--details-url", help="markdown: where the full report is, linked when the comment is shortened."),
) -> None:
    """Plan stacks as they are in the work tree and at a git revision, and show what the change does.

    Resources added, removed and changed (with the inputs that changed and whether the provider replaces
    the resource), data at risk, the cost delta per cluster, and policy verdicts new and cleared. Each side
    is planned by its own code. Exit codes: 0 fine, 1 a mandatory violation in the head, 2 bad input
    (unknown revision, a stack on neither side), 3 a side could not be planned.
    """
    from ai_clusters.tooling.diff import DiffInputError, diff_stacks
    from ai_clusters.tooling.diff import render as diff_render

    output_file(output)
    output_file(full_output, "--full-output")
    try:
        with err.status(f"planning {', '.join(stack) if stack else 'the stacks the change touches'} on both sides …"):
            report = diff_stacks(project_dir, base, stack or None, policy=policy)
    except DiffInputError as exc:
        raise fail_input(str(exc)) from None

    def body() -> str:
        if format == ReportFormat.json:
            one = stack is not None and len(stack) == 1 and len(report.stacks) == 1
            return json.dumps(report.stacks[0].to_json() if one else report.to_json(), indent=2, default=str)
        return diff_render.comment(report.stacks, report.base, report.base_sha, limit=max_chars, details_url=details_url).rstrip("\n")

    if format == ReportFormat.markdown and full_output is not None:
        write_output(full_output, diff_render.full_report(report.stacks, report.base, report.base_sha))
    emit(format == ReportFormat.text, output, lambda console: diff_render.text(report.stacks, report.base, report.base_sha, console), body, width=160)
    raise typer.Exit(report.exit_code)


@app.command()
def recommend(
    workload: WorkloadKind = typer.Option(..., "--workload", "-w", help="pretraining, finetuning, inference, graphics or hpc."),
    accelerators: int = typer.Option(1, "--accelerators", "-a", min=1, help="Accelerators wanted in total."),
    model_params_b: Optional[float] = typer.Option(None, "--model-params-b", help="Model size in billions of parameters."),
    latency_ms: Optional[int] = typer.Option(None, "--latency-ms", help="Inference latency target."),
    region: str = typer.Option("us-central1", "--region", help="Region whose zones and prices to use."),
    provisioning: ProvisioningModel = typer.Option(ProvisioningModel.ON_DEMAND, "--provisioning", help="on-demand, spot, flex-start or reservation."),
    hpc_offload: Optional[str] = typer.Option(None, "--hpc-offload", help="HPC: low, medium or high GPU offload."),
    no_tpu: bool = typer.Option(False, "--no-tpu", help="GPUs only."),
    benchmarks: Optional[Path] = typer.Option(None, "--benchmarks", help="Folder of benchmark results (JSON) to rank by cost per epoch."),
    benchmark_model: Optional[str] = typer.Option(
        None, "--benchmark-model", help="Which results rank: cnn or transformer; default: transformer for pretraining, finetuning and inference, cnn for graphics and hpc."
    ),
    show_rejected: bool = typer.Option(True, "--rejected/--no-rejected", help="List the tiers ruled out, with the reason."),
) -> None:
    """Rank the feasible accelerator tiers for a workload, cheapest first.

    Exit codes: 0 some tier fits, 1 none does (the tiers ruled out say why), 2 bad input.
    """
    from ai_clusters.core.advisor import recommend as rank
    from ai_clusters.core.spec import WorkloadSpec, parse_model

    known_region(region)
    options = {"kind": "--workload", "accelerators": "--accelerators", "modelParamsB": "--model-params-b", "latencyMs": "--latency-ms", "hpcOffload": "--hpc-offload", "(top level)": "recommend"}
    try:
        spec = parse_model(
            WorkloadSpec,
            {"kind": workload, "accelerators": accelerators, "modelParamsB": model_params_b, "latencyMs": latency_ms, "hpcOffload": hpc_offload},
        )
    except SpecError as exc:  # named by the options typed, not the stack keys they stand for
        raise bad_spec(SpecError([Problem(options.get(p.path, p.path), p.message) for p in exc.problems])) from None
    measured = None
    if benchmarks is not None:
        from ai_clusters.tooling.benchmark.config import ModelKind
        from ai_clusters.tooling.benchmark.results import BENCHMARK_MODEL, seconds_per_epoch_by_tier

        try:
            model = ModelKind(benchmark_model) if benchmark_model else BENCHMARK_MODEL[workload]
        except ValueError:
            raise fail_input(f"--benchmark-model: {benchmark_model!r} is not one of {', '.join(m.value for m in ModelKind)}") from None
        try:
            measured = seconds_per_epoch_by_tier(benchmarks, model)
        except SpecError as exc:
            raise bad_spec(exc) from None
        if not measured:
            note(f"no {model.value} result in {benchmarks} is from a catalog machine; ranking by list price")
        else:
            say("ranking", "green", f"by the measured {model.value} results in {benchmarks}")
    ranking = rank(spec, region=region, provisioning=provisioning, include_tpus=not no_tpu, seconds_per_epoch=measured)
    table = Table(title=f"{workload.value}: {accelerators} accelerator(s)" + (f", {model_params_b:g}B parameters" if model_params_b else ""))
    for col in ("#", "tier", "machine / slice", "nodes", "accelerators", "$/hour", "price from", "zones"):
        table.add_column(col, justify="right" if col in ("#", "nodes", "accelerators", "$/hour") else "left")
    if measured:
        table.add_column("$/epoch", justify="right")
        table.add_column("ranked by")
    for i, c in enumerate(ranking.feasible, 1):
        row = [
            str(i),
            c.name,
            c.tpu_type or (f"{c.machine_type} + {c.gpus_per_node}x{c.gpu}" if c.shape is not None and c.shape.attached else c.machine_type or ""),
            str(c.nodes),
            str(c.accelerators),
            "—" if c.hourly_usd is None else f"${c.hourly_usd:,.2f}",
            c.price_region or "—",
            ", ".join(c.zones[:4]) + (" …" if len(c.zones) > 4 else ""),
        ]
        if measured:
            row += [_per_epoch(c), _ranked_by(c)]
        table.add_row(*row)
    if ranking.feasible:
        out.print(table)
    if show_rejected and ranking.rejected:
        rej = Table(title="Ruled out")
        rej.add_column("tier")
        rej.add_column("why")
        for r in ranking.rejected:
            rej.add_row(Text(r.name), Text(r.reason))
        out.print(rej)
    if not ranking.feasible:
        error(f"no tier fits {accelerators:,} accelerator(s) for {workload.value} in {region}" + ("; the tiers ruled out say why" if show_rejected else "; --rejected says why"))
    raise typer.Exit(0 if ranking.feasible else 1)


def _per_epoch(c: "Candidate") -> str:
    if c.seconds_per_epoch is None:
        return "—"
    if c.hourly_usd is None:
        return "no list price"
    return f"${c.cost_per_epoch_usd:,.4f} ({c.seconds_per_epoch:,.1f} s)"


def _ranked_by(c: "Candidate") -> str:
    """Whether a rank comes from a measurement (and which) or from the hourly list price."""
    if c.cost_per_epoch_usd is not None:
        return f"measured ({c.measured_as})" if c.measured_as not in (c.machine_type, c.tpu_type) else "measured"
    if c.seconds_per_epoch is not None:
        return "measured, no list price"
    return "list price" if c.hourly_usd is not None else "no list price"


catalog_app = typer.Typer(help="Show the accelerator catalog, or refresh it from Google's APIs.", no_args_is_help=False)
app.add_typer(catalog_app, name="catalog")


@catalog_app.callback(invoke_without_command=True)
def show_catalog(
    ctx: typer.Context,
    family: Optional[str] = typer.Option(None, "--family", help="Only this family id (a3-mega, g2, v5e …)."),
    zone: Optional[str] = typer.Option(None, "--zone", help="Only what is offered in this zone."),
    workload: Optional[WorkloadKind] = typer.Option(None, "--workload", help="Only tiers Google recommends for this workload."),
    region: Optional[str] = typer.Option(None, "--region", help="Region of the prices shown (default: the zone's, else us-central1)."),
    as_json: bool = typer.Option(False, "--json", help="Print the entries as JSON."),
) -> None:
    """Show the accelerator catalog: machine types, GPUs, NICs, zones, prices and sources."""
    if ctx.invoked_subcommand is not None:
        return
    cat = catalog()
    if region is not None:
        known_region(region)
    if zone:
        known_zone(zone)
        if region is not None and region != region_of(zone):
            raise fail_input(f"--zone {zone} is in {region_of(zone)}, not in --region {region}")
    region = region or (region_of(zone) if zone else "us-central1")
    allowed: Optional[set[str]] = None
    if workload is not None:
        from ai_clusters.core.advisor import recommended_tiers
        from ai_clusters.core.spec import WorkloadSpec

        fams, tpus = recommended_tiers(WorkloadSpec(kind=workload, accelerators=1), cat)
        allowed = set(fams) | (set(cat.tpu_generations) if tpus else set())
    if family and family not in cat.families and family not in cat.tpu_generations:
        raise fail_input(str(CatalogError(f"'{family}' is not a family in the catalog; allowed: {', '.join([*cat.families, *cat.tpu_generations])}")))
    rows = []
    for fam in cat.families.values():
        if (family and fam.id != family) or (zone and zone not in fam.all_zones) or (allowed is not None and fam.id not in allowed):
            continue
        shapes = [cat.shape(mt.name) for mt in fam.machine_types] or []
        if fam.attached_accelerators:
            from ai_clusters.core.advisor import n1_shapes

            shapes = n1_shapes(cat, fam.id)
        net = fam.network
        host_nics = "gVNIC" if net.host_nic_type == "GVNIC" else net.host_nic_type
        for shape in shapes:
            if zone and zone not in shape.zones:
                continue
            od, where = cat.node_price(shape, region, ProvisioningModel.ON_DEMAND)
            spot, _ = cat.node_price(shape, region, ProvisioningModel.SPOT)
            gpus = f"{shape.gpu_share:g} of 1" if shape.gpu_share else str(shape.gpus)
            memory = fam.gpu.memory_gb * (shape.gpu_share or 1)
            rows.append(
                {
                    "family": fam.id,
                    "machine_type": shape.machine_type,
                    "gpu": f"{gpus} x {fam.gpu.model} ({memory:g} GB)",
                    "vcpus": shape.vcpus,
                    "memory_gb": shape.memory_gb,
                    "network": f"{fam.gpudirect.value}: {net.gvnics} {host_nics} + {net.gpu_nics} {net.gpu_nic_type.value if net.gpu_nic_type else ''}".strip(),
                    "provisioning": ", ".join(p.value for p in shape.provisioning),
                    "on_demand_usd": od,
                    "spot_usd": spot,
                    "price_region": where,
                    "zones": len(shape.zones),
                    "zones_as_of": fam.zones_as_of.isoformat() if fam.zones_as_of else None,
                    "unsupported": shape.unsupported,
                    "sources": [cat.data.sources[s].url for s in fam.sources],
                }
            )
    for gen in cat.tpu_generations.values():
        if (family and gen.id != family) or (zone and zone not in gen.zones) or (allowed is not None and gen.id not in allowed):
            continue
        od, where = cat.tpu_price(gen.id, 1, region, ProvisioningModel.ON_DEMAND)
        spot, _ = cat.tpu_price(gen.id, 1, region, ProvisioningModel.SPOT)
        rows.append(
            {
                "family": gen.id,
                "machine_type": f"{gen.accelerator_types[0].name} … {gen.accelerator_types[-1].name}",
                "gpu": f"{gen.name}, {gen.hbm_gb_per_chip:g} GB HBM/chip",
                "vcpus": None,
                "memory_gb": None,
                "network": f"{gen.chips_per_host} chips/host, topologies {gen.accelerator_types[0].topology}…{gen.accelerator_types[-1].topology}",
                "provisioning": ", ".join(p.value for p in gen.provisioning),
                "on_demand_usd": od,
                "spot_usd": spot,
                "price_region": where,
                "zones": len(gen.zones),
                "zones_as_of": gen.zones_as_of.isoformat() if gen.zones_as_of else None,
                "unsupported": None,
                "sources": [cat.data.sources[s].url for s in gen.sources],
            }
        )
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=f"ai-clusters catalog (read {cat.data.read_on}) · prices per hour in {region}")
    for col in ("family", "machine type", "accelerators", "vCPU", "GB", "network", "provisioning", "on-demand", "spot", "zones"):
        table.add_column(col, justify="right" if col in ("vCPU", "GB", "on-demand", "spot", "zones") else "left")
    for r in rows:
        table.add_row(
            r["family"],
            r["machine_type"],
            r["gpu"],
            "" if r["vcpus"] is None else str(r["vcpus"]),
            "" if r["memory_gb"] is None else f"{r['memory_gb']:g}",
            r["network"],
            r["provisioning"],
            _price(r["on_demand_usd"], r["price_region"], region),
            _price(r["spot_usd"], r["price_region"], region),
            str(r["zones"]) + (f" (as of {r['zones_as_of']})" if r["zones_as_of"] else ""),
        )
    unbuilt: dict[str, list[str]] = {}
    for r in rows:
        if r["unsupported"]:
            unbuilt.setdefault(r["unsupported"], []).append(r["machine_type"])
    if unbuilt:
        table.caption = "not built by any path yet: " + "; ".join(f"{', '.join(names)}: {why}" for why, names in unbuilt.items())
    if rows:
        out.print(table)
    else:
        filters = ", ".join(f"{k} {v}" for k, v in (("--family", family), ("--zone", zone), ("--workload", workload.value if workload else None)) if v)
        note(f"no catalog entry matches {filters}")


def _price(usd: Optional[float], where: Optional[str], region: str) -> str:
    """A catalog price, with the region it is from when that is not the region asked for."""
    if usd is None:
        return "—"
    return f"${usd:,.2f}" if where in (None, region) else f"${usd:,.2f} ({where})"


class RefreshFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


@catalog_app.command("refresh")
def refresh_catalog(
    project: str = typer.Option(..., "--project", "-p", help="The project whose API view is read (it needs the Compute, TPU and Cloud Billing APIs)."),
    format: RefreshFormat = typer.Option(RefreshFormat.text, "--format", "-f", help="text, markdown or json."),
    write: bool = typer.Option(False, "--write", help="Update the catalog file's zones and shapes in place, with a dated source."),
    catalog_file: Optional[Path] = typer.Option(None, "--catalog", help="The catalog file to compare and write (default: the installed one)."),
    prices: bool = typer.Option(True, "--prices/--no-prices", help="Also compare list prices with the Cloud Billing Catalog's SKUs."),
    timeout: float = typer.Option(60.0, "--timeout", min=0.1, help="Seconds each request may take, retries of 429/5xx included."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report to this file instead of standard output."),
) -> None:
    """Ask Google's APIs what the catalog describes (machine types, zones, shapes, TPU types and runtimes, prices) and report every difference.

    Exit codes: 0 no difference, 1 differences found, 2 bad input, 3 something could not be asked
    (credentials, permission, API not enabled: one line each). AI_CLUSTERS_COMPUTE_ENDPOINT,
    AI_CLUSTERS_TPU_ENDPOINT and AI_CLUSTERS_BILLING_ENDPOINT override the APIs' base URLs;
    AI_CLUSTERS_ANONYMOUS_CREDENTIALS=1 sends no credentials (only with all three overridden).
    """
    import warnings

    warnings.filterwarnings("ignore", message="You are using a Python version", category=FutureWarning)
    from ai_clusters.core.catalog import parse_catalog
    from ai_clusters.tooling.catalog_refresh import CATALOG_FILE, REFRESH_APIS, WriteError, refresh
    from ai_clusters.tooling.catalog_refresh import render as refresh_render
    from ai_clusters.tooling.preflight import Connection, SettingsError

    output_file(output)
    try:
        connection = Connection.from_env(attempt_timeout=min(20.0, timeout), deadline=timeout, apis=REFRESH_APIS)
    except SettingsError as exc:
        raise fail_input(str(exc)) from None
    path = catalog_file or CATALOG_FILE
    try:
        cat = parse_catalog(path.read_text(encoding="utf-8")) if catalog_file else catalog()
    except (OSError, ValueError) as exc:
        raise fail_input(f"--catalog {path}: {str(exc).splitlines()[0]}") from None
    try:
        with err.status(f"asking Google about the catalog in project {project} …"):
            report = refresh(project, connection, cat=cat, prices=prices, write=path if write else None)
    except WriteError as exc:
        error(str(exc))
        raise typer.Exit(3) from None
    for line in report.could_not_ask:
        say("could not ask:", "yellow", line)
    if write and report.could_not_ask:
        note("nothing written: a partial answer could drop zones that are still there")
    emit_report(format.value, output, refresh_render, report)
    raise typer.Exit(report.exit_code)


@app.command("blueprint")
def write_blueprint(
    stack: str = typer.Option(..., "--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml."),
    cluster: str = typer.Option(..., "--cluster", "-c", help="Name of a cluster of the stack on the slurm path."),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="Folder of Pulumi.yaml (or below it)."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Where to write it (default: blueprints/<stack>-<cluster>.yaml in the project; - for standard output)."
    ),
) -> None:
    """Write the Cluster Toolkit blueprint equivalent to a Slurm cluster of a stack (for gcluster)."""
    from ai_clusters.slurm.blueprint import blueprint, blueprint_file, render
    from ai_clusters.core.enums import ClusterPath
    from ai_clusters.tooling.plan import PlanInputError, find_project
    from ai_clusters.tooling.plan.engine import read_stack_config
    from ai_clusters.core.spec import load_environment

    output_file(output)
    try:
        project = find_project(project_dir)
        env = load_environment(read_stack_config(project, stack))
    except PlanInputError as exc:
        raise fail_input(str(exc)) from None
    except SpecError as exc:
        raise bad_spec(exc) from None
    index = next((i for i, c in enumerate(env.clusters) if c.name == cluster), None)
    if index is None:
        raise fail_input(f"stack {stack!r} has no cluster {cluster!r}; clusters: {', '.join(c.name for c in env.clusters)}")
    cl = env.clusters[index]
    if cl.spec.path != ClusterPath.SLURM:
        slurm = [c.name for c in env.clusters if c.spec.path == ClusterPath.SLURM]
        raise fail_input(f"cluster {cluster!r} is on path {cl.spec.path.value!r}; blueprints are for slurm clusters ({', '.join(slurm) or 'none in this stack'})")
    text = render(blueprint(cl, cl.plan, env.spec.network))
    if output is not None and str(output) == "-":
        sys.stdout.write(text)
        return
    path = output
    if path is None:  # the default folder is ours to make (and .gitignore'd)
        path = project.root / blueprint_file(stack, cluster)
        path.parent.mkdir(parents=True, exist_ok=True)
    write_output(path, text)
    say("wrote", "green", str(path))


@app.command("schema")
def write_package_schema(
    output: Path = typer.Option(Path("-"), "--output", "-o", help="Where to write it (tests/data/schema.json is the checked-in snapshot; - for standard output)."),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="Folder of Pulumi.yaml (or below it); its provider/ is started."),
) -> None:
    """Start the component package's provider as Pulumi does and write the schema it serves (GetSchema)."""
    from ai_clusters.tooling.plan import PlanInputError, find_project
    from ai_clusters.tooling.schema import ProviderError, read_schema, schema_text

    output_file(output)
    try:
        project = find_project(project_dir)
    except PlanInputError as exc:
        raise fail_input(str(exc)) from None
    try:
        schema = read_schema(project.root / "provider")
    except ProviderError as exc:
        error(str(exc))
        raise typer.Exit(3) from None
    if str(output) == "-":
        sys.stdout.write(schema_text(schema))
        return
    write_output(output, schema_text(schema))
    say("wrote", "green", f"{output}: {len(schema['resources'])} components, {len(schema['types'])} types")


@app.command()
def preflight(
    stack: str = typer.Option("dev", "--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml."),
    format: ReportFormat = typer.Option(ReportFormat.text, "--format", "-f", help="text, markdown or json."),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="Folder of Pulumi.yaml (or below it)."),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Seconds each request may take, retries of 429/5xx included."),
    workers: int = typer.Option(16, "--workers", min=1, max=64, help="Requests in flight at once."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of standard output."),
) -> None:
    """Ask Google Cloud, read-only, whether the stack can be created: machine types, GPU and TPU quotas, reservations, TPU runtimes.

    Exit codes: 0 everything fits, 1 something does not, 2 bad input, 3 nothing failed but some checks
    could not be made (no credentials, permission missing, API not enabled, API unreachable).
    Credentials: Application Default Credentials. AI_CLUSTERS_COMPUTE_ENDPOINT, AI_CLUSTERS_TPU_ENDPOINT
    and AI_CLUSTERS_QUOTAS_ENDPOINT override the APIs' base URLs; AI_CLUSTERS_ANONYMOUS_CREDENTIALS=1
    sends no credentials (only with all three overridden).
    """
    import warnings

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    # Google's clients warn on import about Python versions they will drop one day; not our user's problem now.
    warnings.filterwarnings("ignore", message="You are using a Python version", category=FutureWarning)

    from ai_clusters.tooling.plan import PlanInputError
    from ai_clusters.tooling.preflight import Connection, SettingsError, Status, run_preflight
    from ai_clusters.tooling.preflight import render as pf_render

    output_file(output)
    try:
        connection = Connection.from_env(attempt_timeout=min(10.0, timeout), deadline=timeout)
    except SettingsError as exc:
        raise fail_input(str(exc)) from None
    bar = Progress(SpinnerColumn(), TextColumn("asking Google Cloud"), BarColumn(), MofNCompleteColumn(), TextColumn("requests"), TimeElapsedColumn(), console=err, transient=True)
    task = bar.add_task("requests", total=None)

    def advance(done: int, total: int) -> None:
        bar.update(task, completed=done, total=max(total, done))

    try:
        with bar if err.is_terminal else contextlib.nullcontext():
            report = run_preflight(stack, project_dir, connection=connection, workers=workers, progress=advance)
    except PlanInputError as exc:
        raise fail_input(str(exc)) from None
    except SpecError as exc:
        raise bad_spec(exc) from None
    if format != ReportFormat.text or output:  # the text report says each reason once itself
        for line in dict.fromkeys(c.message for c in report.checks if c.status == Status.UNKNOWN):
            say("could not check:", "yellow", line)
    emit_report(format.value, output, pf_render, report)
    raise typer.Exit(report.exit_code)


class WhereFormat(str, Enum):
    text = "text"
    json = "json"


def _csv(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command()
def where(
    stack: str = typer.Option(..., "--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml."),
    cluster: str = typer.Option(..., "--cluster", "-c", help="The cluster to place."),
    regions: Optional[str] = typer.Option(None, "--regions", help="Only these regions (comma-separated); default: every region the catalog lists for the cluster's accelerator."),
    provisioning: Optional[str] = typer.Option(None, "--provisioning", help="Provisioning models to try (comma-separated): on-demand, spot, flex-start, reservation; default: the first three, and the cluster's reservation."),
    format: WhereFormat = typer.Option(WhereFormat.text, "--format", "-f", help="text or json."),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="Folder of Pulumi.yaml (or below it)."),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Seconds each request may take, retries of 429/5xx included."),
    workers: int = typer.Option(32, "--workers", min=1, max=64, help="Requests in flight at once."),
) -> None:
    """Where could this cluster run right now? Every zone and provisioning model, asked of Google Cloud, cheapest fit first.

    For each zone the catalog lists for the cluster's machine family or TPU generation: is the machine,
    accelerator or TPU type offered there, is there quota for the cluster in the pool the model draws on,
    is the named reservation there with room. Read-only, concurrent, one request per region or quota id
    (not per zone). Exit codes: 0 at least one option fits, 1 none does, 2 bad input, 3 none fits but
    some could not be asked. Credentials and endpoints as for `preflight`.
    """
    import warnings

    warnings.filterwarnings("ignore", message="You are using a Python version", category=FutureWarning)

    from ai_clusters.tooling.plan import PlanInputError
    from ai_clusters.tooling.preflight import Connection, SettingsError
    from ai_clusters.tooling.preflight import where_render
    from ai_clusters.tooling.preflight.where import WhereInputError, find_where

    try:
        connection = Connection.from_env(attempt_timeout=min(10.0, timeout), deadline=timeout)
        with err.status(f"asking Google Cloud where {cluster} fits …") if err.is_terminal else contextlib.nullcontext():
            report = find_where(stack, cluster, project_dir, regions=_csv(regions), models=_csv(provisioning), connection=connection, workers=workers)
    except (PlanInputError, SettingsError, WhereInputError) as exc:
        raise fail_input(str(exc)) from None
    except SpecError as exc:
        raise bad_spec(exc) from None
    if format == WhereFormat.json:
        sys.stdout.write(where_render.as_json(report) + "\n")
    else:
        where_render.text(report, out)
    raise typer.Exit(report.exit_code)


benchmark_app = typer.Typer(
    help="Measure a fixed JAX training workload on this machine's CPU, GPUs or TPUs (needs the validate extra).",
    no_args_is_help=False,
)
app.add_typer(benchmark_app, name="benchmark")


@benchmark_app.callback(invoke_without_command=True)
def benchmark(
    ctx: typer.Context,
    model: ModelKind = typer.Option(ModelKind.CNN, "--model", "-m", help="cnn (MNIST-shaped images) or transformer (synthetic tokens)."),
    epochs: int = typer.Option(3, "--epochs", "-e", help="Timed epochs (after compilation)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Global batch, split over all local devices (cnn: 256, transformer: 128)."),
    train_samples: Optional[int] = typer.Option(None, "--train-samples", help="Training samples per epoch (cnn: 60000, transformer: 16384)."),
    test_samples: Optional[int] = typer.Option(None, "--test-samples", help="Test samples for the accuracy (cnn: 10000, transformer: 2048)."),
    dtype: ComputeDtype = typer.Option(ComputeDtype.FLOAT32, "--dtype", help="Compute precision: float32 or bfloat16."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data and the initial weights."),
    mnist: Optional[Path] = typer.Option(None, "--mnist", help="A local MNIST copy (folder of IDX files, or mnist.npz) instead of generated images."),
    machine_type: Optional[str] = typer.Option(None, "--machine-type", help="The Compute Engine machine type this runs on (prices the result)."),
    accelerator: Optional[str] = typer.Option(None, "--accelerator", help="With an N1 machine type: the attached GPU (nvidia-tesla-t4 …)."),
    tpu_type: Optional[str] = typer.Option(None, "--tpu-type", help="On a TPU VM: its accelerator type (v5litepod-8, v6e-8 …)."),
    from_metadata: bool = typer.Option(False, "--from-metadata", help="Read machine type, zone and TPU type from the Compute Engine metadata server."),
    region: Optional[str] = typer.Option(None, "--region", help="Region of the price shown (default: the zone's, else us-central1)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Result file (default: benchmark-MACHINE-MODEL.json)."),
) -> None:
    """Run the benchmark on every local device and write its result (JSON); `report` compares results."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ai_clusters.tooling.benchmark import report
    from ai_clusters.tooling.benchmark.config import BenchmarkConfig
    from ai_clusters.tooling.benchmark.system import MetadataError, machine_from_flags, machine_from_metadata

    if from_metadata and (machine_type or accelerator or tpu_type):
        raise fail_input("--from-metadata reads the machine; do not name it as well")
    output_file(output)
    if region is not None:
        known_region(region)
    problems = []
    try:
        cfg = BenchmarkConfig(
            model=model, epochs=epochs, train_samples=train_samples, test_samples=test_samples, global_batch=batch_size,
            dtype=dtype, seed=seed, mnist_path=mnist,
        ).resolved()
    except SpecError as exc:
        problems += exc.problems
    try:
        machine = machine_from_flags(machine_type, accelerator, tpu_type)
    except SpecError as exc:
        problems += exc.problems
    if problems:
        raise bad_spec(SpecError(problems, subject="benchmark"))
    try:
        if from_metadata:
            machine = machine_from_metadata()
    except MetadataError as exc:
        error(str(exc))
        raise typer.Exit(3) from None
    try:
        from ai_clusters.tooling.benchmark.data import DataError
        from ai_clusters.tooling.benchmark.run import BenchmarkError, run_benchmark
        from ai_clusters.tooling.benchmark.run import Progress as Callbacks
    except ImportError as exc:
        error(f"the benchmark needs JAX: pip install 'ai-clusters[validate]' ({exc})")
        raise typer.Exit(3) from None

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("starting JAX", total=cfg.epochs * cfg.steps_per_epoch)
        callbacks = Callbacks(
            stage=lambda text: bar.update(task, description=text),
            step=lambda: bar.advance(task),
            epoch=lambda r: bar.console.print(
                f"epoch {r.epoch}: {r.seconds:,.2f} s, training loss {r.train_loss:.4f}, test accuracy {r.test_accuracy:.2%}", highlight=False
            ),
        )
        try:
            result = run_benchmark(cfg, machine, callbacks)
        except (BenchmarkError, DataError) as exc:
            raise fail_input(str(exc)) from None
    path = output or Path(f"benchmark-{result.machine.name.replace(' + ', '-')}-{result.workload.model.value}.json")
    write_output(path, result.to_json())
    where = region or (region_of(machine.zone) if machine.zone else "us-central1")
    row = report.Row(result, report.price_of(result, where, ProvisioningModel.ON_DEMAND), None)
    table = Table(title=f"{result.workload.describe()} · on-demand prices in {where}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for col, cell in zip(report.COLUMNS, report.cells(row)):
        if col != "speed-up vs CPU":
            table.add_row(col, cell)
    out.print(table)
    say("result written to", "green", str(path), out)


@benchmark_app.command("report")
def benchmark_report(
    files: list[Path] = typer.Argument(..., help="Result files, or folders of them (*.json)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder for report.md and the charts (PNG); default benchmarks/report."),
    region: str = typer.Option("us-central1", "--region", help="Region whose list prices to use."),
    provisioning: ProvisioningModel = typer.Option(ProvisioningModel.ON_DEMAND, "--provisioning", help="on-demand, spot or flex-start prices."),
) -> None:
    """Compare results from several machines: speed-up over CPU and cost per epoch per catalog tier."""
    from ai_clusters.tooling.benchmark import report
    from ai_clusters.tooling.benchmark.results import load_results

    known_region(region)
    folder = output_folder(output) if output is not None else Path("benchmarks/report")
    try:
        results = load_results(files)
    except SpecError as exc:
        raise bad_spec(exc) from None
    try:
        import matplotlib  # noqa: F401 - only to know whether charts can be drawn

        charts = True
    except ImportError:
        charts = False
    if not charts:
        note("no charts without matplotlib: pip install 'ai-clusters[validate]'")
    try:
        reports, written = report.write(results, folder, region, provisioning, charts=charts)
    except OSError as exc:
        raise fail_input(f"--output {folder}: cannot be written ({exc.strerror or exc})") from None
    for rep in reports:
        sides = Table(title=rep.workload.describe())
        for col in ("", *report.SIDES):
            sides.add_column(col)
        for cells in report.side_by_side(rep, provisioning):
            sides.add_row(*cells)
        out.print(sides)
        table = Table(title="every run")
        for col in report.COLUMNS:
            table.add_column(col)
        for row in rep.rows:
            table.add_row(*report.cells(row, provisioning))
        out.print(table)
    say("wrote", "green", ", ".join(str(p) for p in written), out)


@app.command("validate-job")
def validate_job(
    stack: str = typer.Option(..., "--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml."),
    cluster: str = typer.Option(..., "--cluster", "-c", help="The cluster's name in the stack."),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="Folder of Pulumi.yaml (or below it)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the job to this file instead of standard output."),
) -> None:
    """Write the cluster's validation job (Kubernetes Job/JobSet, sbatch script, node commands or Vertex AI custom job)."""
    from ai_clusters.tooling.plan import PlanInputError
    from ai_clusters.tooling.plan.engine import find_project, read_stack_config, run_program

    from ai_clusters.core.spec import load_environment

    output_file(output)
    try:
        project = find_project(project_dir)
        config = read_stack_config(project, stack)
        load_environment(config)  # every problem with its key path, before the program runs
        with err.status(f"running stack {stack} under mocks …"):
            run = run_program(project, stack, config)
    except PlanInputError as exc:
        raise fail_input(str(exc)) from None
    except SpecError as exc:
        raise bad_spec(exc) from None
    clusters = {k: v for k, v in run.exports.items() if isinstance(v, dict) and "validation_job" in v}
    if cluster not in clusters:
        raise fail_input(f"stack {stack!r} has no cluster {cluster!r}; clusters: {', '.join(sorted(clusters)) or 'none'}")
    body = str(clusters[cluster]["validation_job"])
    if output:
        write_output(output, body)
        say("wrote", "green", str(output))
    else:
        sys.stdout.write(body)


def main() -> None:
    """Console-script entry point. An unexpected exception is one line, never a traceback, unless
    AI_CLUSTERS_TRACEBACK=1 asks for it."""
    try:
        app()
    except Exception as exc:  # typer's exits are SystemExit, not Exception
        if os.environ.get("AI_CLUSTERS_TRACEBACK") == "1":
            raise
        error(f"internal error: {type(exc).__name__}: {exc} (AI_CLUSTERS_TRACEBACK=1 shows where; please report it)")
        sys.exit(3)


if __name__ == "__main__":
    main()
