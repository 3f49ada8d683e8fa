"""The `ai-clusters` command line: plan, recommend, catalog (and the commands of later modules).

Exit codes: 0 fine, 1 a check failed (mandatory policy, pre-flight), 2 bad input, 3 a check could
not be made. Bad input prints one line per problem with its key path, never a traceback.
"""

import contextlib
import json
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.table import Table

from ai_clusters.tooling.benchmark.config import ComputeDtype, ModelKind
from ai_clusters.core.catalog import CatalogError, catalog, region_of
from ai_clusters.core.enums import ProvisioningModel, WorkloadKind
from ai_clusters.core.spec import SpecError

if TYPE_CHECKING:
    from ai_clusters.core.advisor import Candidate

app = typer.Typer(
    name="ai-clusters",
    help="AI accelerator clusters on Google Cloud: offline plan, advisor, catalog, pre-flight, Cluster Toolkit blueprints.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (CI logs, README examples) gets wide tables instead of rich's default 80 columns.
out = Console() if sys.stdout.isatty() else Console(width=160)
err = Console(stderr=True)


class PlanFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"
    sarif = "sarif"


def fail_input(message: str) -> "typer.Exit":
    err.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def bad_spec(exc: SpecError) -> "typer.Exit":
    if exc.subject and not exc.problems:
        err.print(f"[red]error:[/] {exc.subject}", highlight=False)
    else:
        prefix = f"{exc.subject}: " if exc.subject else ""
        for problem in exc.problems:
            err.print(f"[red]error:[/] {prefix}{problem}", highlight=False)
    return typer.Exit(2)


@app.command()
def plan(
    stack: str = typer.Option("dev", "--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml."),
    format: PlanFormat = typer.Option(PlanFormat.text, "--format", "-f", help="text, markdown, json or sarif."),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="Folder of Pulumi.yaml (or below it)."),
    policy: bool = typer.Option(True, "--policy/--no-policy", help="Run the policy pack over the planned resources."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of standard output."),
) -> None:
    """Run the stack's Pulumi program under mocks: resources, hourly cost, policy verdicts."""
    from ai_clusters.tooling.plan import PlanInputError, make_plan
    from ai_clusters.tooling.plan import render

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
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(3) from None

    if format == PlanFormat.text:
        console = Console(file=output.open("w"), width=160) if output else out
        render.text(result, console)
    else:
        if format == PlanFormat.json:
            body = json.dumps(result.to_json(), indent=2, sort_keys=False)
        elif format == PlanFormat.markdown:
            body = render.markdown(result)
        else:
            from ai_clusters.tooling.plan.sarif import sarif

            body = json.dumps(sarif(result), indent=2)
        if output:
            output.write_text(body + "\n")
        else:
            sys.stdout.write(body + "\n")
    raise typer.Exit(result.exit_code)


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
    """Rank the feasible accelerator tiers for a workload, cheapest first."""
    from ai_clusters.core.advisor import recommend as rank
    from ai_clusters.core.spec import WorkloadSpec, parse_model

    try:
        spec = parse_model(
            WorkloadSpec,
            {"kind": workload, "accelerators": accelerators, "modelParamsB": model_params_b, "latencyMs": latency_ms, "hpcOffload": hpc_offload},
        )
    except SpecError as exc:
        raise bad_spec(exc) from None
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
            err.print(f"[yellow]note:[/] no {model.value} result in {benchmarks} is from a catalog machine; ranking by list price", highlight=False)
        else:
            err.print(f"ranking by the measured {model.value} results in {benchmarks}", highlight=False)
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
    out.print(table)
    if not ranking.feasible:
        err.print("[red]no feasible tier[/]")
    if show_rejected and ranking.rejected:
        rej = Table(title="Ruled out")
        rej.add_column("tier")
        rej.add_column("why")
        for r in ranking.rejected:
            rej.add_row(r.name, r.reason)
        out.print(rej)
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


@app.command("catalog")
def show_catalog(
    family: Optional[str] = typer.Option(None, "--family", help="Only this family id (a3-mega, g2, v5e …)."),
    zone: Optional[str] = typer.Option(None, "--zone", help="Only what is offered in this zone."),
    workload: Optional[WorkloadKind] = typer.Option(None, "--workload", help="Only tiers Google recommends for this workload."),
    region: str = typer.Option("us-central1", "--region", help="Region of the prices shown."),
    as_json: bool = typer.Option(False, "--json", help="Print the entries as JSON."),
) -> None:
    """Show the accelerator catalog: machine types, GPUs, NICs, zones, prices and sources."""
    cat = catalog()
    if zone:
        region = region_of(zone)
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
        if (family and fam.id != family) or (zone and zone not in fam.zones) or (allowed is not None and fam.id not in allowed):
            continue
        shapes = [cat.shape(mt.name) for mt in fam.machine_types] or []
        if fam.attached_accelerators:
            from ai_clusters.core.advisor import n1_shapes

            shapes = n1_shapes(cat, fam.id)
        for shape in shapes:
            od, where = cat.node_price(shape, region, ProvisioningModel.ON_DEMAND)
            spot, _ = cat.node_price(shape, region, ProvisioningModel.SPOT)
            rows.append(
                {
                    "family": fam.id,
                    "machine_type": shape.machine_type,
                    "gpu": f"{shape.gpus} x {fam.gpu.model} ({fam.gpu.memory_gb:g} GB)",
                    "vcpus": shape.vcpus,
                    "memory_gb": shape.memory_gb,
                    "network": f"{fam.gpudirect.value}: {fam.network.gvnics} gVNIC + {fam.network.gpu_nics} {fam.network.gpu_nic_type.value if fam.network.gpu_nic_type else ''}".strip(),
                    "provisioning": ", ".join(p.value for p in shape.provisioning),
                    "on_demand_usd": od,
                    "spot_usd": spot,
                    "price_region": where,
                    "zones": len(fam.zones),
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
            "—" if r["on_demand_usd"] is None else f"${r['on_demand_usd']:,.2f}",
            "—" if r["spot_usd"] is None else f"${r['spot_usd']:,.2f}",
            str(r["zones"]),
        )
    out.print(table)
    if not rows:
        err.print("nothing matches")


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
    path = output or project.root / blueprint_file(stack, cluster)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    err.print(f"wrote {path}", highlight=False)


@app.command("schema")
def write_package_schema(
    output: Path = typer.Option(Path("-"), "--output", "-o", help="Where to write it (tests/data/schema.json is the checked-in snapshot; - for standard output)."),
    project_dir: Path = typer.Option(Path("."), "--project-dir", help="Folder of Pulumi.yaml (or below it); its provider/ is started."),
) -> None:
    """Start the component package's provider as Pulumi does and write the schema it serves (GetSchema)."""
    from ai_clusters.tooling.plan import PlanInputError, find_project
    from ai_clusters.tooling.schema import ProviderError, read_schema, schema_text, write_schema

    try:
        project = find_project(project_dir)
    except PlanInputError as exc:
        raise fail_input(str(exc)) from None
    try:
        if str(output) == "-":
            sys.stdout.write(schema_text(read_schema(project.root / "provider")))
            return
        schema = write_schema(project.root / "provider", output)
    except ProviderError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(3) from None
    err.print(f"wrote {output}: {len(schema['resources'])} components, {len(schema['types'])} types", highlight=False)


class PreflightFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


@app.command()
def preflight(
    stack: str = typer.Option("dev", "--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml."),
    format: PreflightFormat = typer.Option(PreflightFormat.text, "--format", "-f", help="text, markdown or json."),
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
    if format != PreflightFormat.text or output:  # the text report says each reason once itself
        for line in dict.fromkeys(c.message for c in report.checks if c.status == Status.UNKNOWN):
            err.print(f"[yellow]could not check:[/] {line}", highlight=False)
    if format == PreflightFormat.text:
        console = Console(file=output.open("w"), width=200) if output else out
        pf_render.text(report, console)
    else:
        body = pf_render.as_json(report) if format == PreflightFormat.json else pf_render.markdown(report)
        if output:
            output.write_text(body + "\n")
        else:
            sys.stdout.write(body + "\n")
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
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(3) from None
    try:
        from ai_clusters.tooling.benchmark.data import DataError
        from ai_clusters.tooling.benchmark.run import BenchmarkError, run_benchmark
        from ai_clusters.tooling.benchmark.run import Progress as Callbacks
    except ImportError as exc:
        err.print(f"[red]error:[/] the benchmark needs JAX: pip install 'ai-clusters\\[validate]' ({exc})", highlight=False)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.to_json(), encoding="utf-8")
    where = region or (region_of(machine.zone) if machine.zone else "us-central1")
    row = report.Row(result, report.price_of(result, where, ProvisioningModel.ON_DEMAND), None)
    table = Table(title=f"{result.workload.describe()} · on-demand prices in {where}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for col, cell in zip(report.COLUMNS, report.cells(row)):
        if col != "speed-up vs CPU":
            table.add_row(col, cell)
    out.print(table)
    out.print(f"result written to {path}", highlight=False)


@benchmark_app.command("report")
def benchmark_report(
    files: list[Path] = typer.Argument(..., help="Result files, or folders of them (*.json)."),
    output: Path = typer.Option(Path("benchmarks/report"), "--output", "-o", help="Folder for report.md and the charts (PNG)."),
    region: str = typer.Option("us-central1", "--region", help="Region whose list prices to use."),
    provisioning: ProvisioningModel = typer.Option(ProvisioningModel.ON_DEMAND, "--provisioning", help="on-demand, spot or flex-start prices."),
) -> None:
    """Compare results from several machines: speed-up over CPU and cost per epoch per catalog tier."""
    from ai_clusters.tooling.benchmark import report
    from ai_clusters.tooling.benchmark.results import load_results

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
        err.print("[yellow]note:[/] no charts without matplotlib: pip install 'ai-clusters\\[validate]'", highlight=False)
    reports, written = report.write(results, output, region, provisioning, charts=charts)
    for rep in reports:
        table = Table(title=rep.workload.describe())
        for col in report.COLUMNS:
            table.add_column(col)
        for row in rep.rows:
            table.add_row(*report.cells(row))
        out.print(table)
    out.print("wrote " + ", ".join(str(p) for p in written), highlight=False)


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

    try:
        project = find_project(project_dir)
        with err.status(f"running stack {stack} under mocks …"):
            run = run_program(project, stack, read_stack_config(project, stack))
    except PlanInputError as exc:
        raise fail_input(str(exc)) from None
    except SpecError as exc:
        raise bad_spec(exc) from None
    clusters = {k: v for k, v in run.exports.items() if isinstance(v, dict) and "validation_job" in v}
    if cluster not in clusters:
        raise fail_input(f"stack {stack!r} has no cluster {cluster!r}; clusters: {', '.join(sorted(clusters)) or 'none'}")
    body = str(clusters[cluster]["validation_job"])
    if output:
        output.write_text(body)
        err.print(f"wrote {output}", highlight=False)
    else:
        sys.stdout.write(body)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
