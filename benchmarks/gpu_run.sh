#!/usr/bin/env bash
# The GPU half of the CPU-vs-GPU benchmark, prepared here and run once on a lent GPU machine (the `device`
# tool's `run`). The machine has Python 3.12 with JAX for CUDA, numpy, typer, rich, PyYAML and matplotlib,
# no pydantic and no network: the wheels it lacks travel in .whl/ (ignored by git, named in `carry`).
#
#   benchmarks/gpu_run.sh prepare [PYTHON_VERSION]   here: download the wheels into .whl/ (default 3.12)
#   benchmarks/gpu_run.sh device                     there: both workloads, the CPU runs' configuration,
#                                                    results and the log into $OUT
#
# The device call:  run(command="benchmarks/gpu_run.sh device", carry=[".whl"], timeout_s=540)
# Then here: copy the two JSON files into benchmarks/results/, `ai-clusters benchmark report benchmarks/results
# --output benchmarks/report`, and update README's validation table.
#
# The run is priced as a3-highgpu-1g (one H100 SXM 80GB, the Compute Engine machine a user rents for one
# H100); the lent machine is not a Compute Engine VM, so say which card it was beside the figures.
# BENCH_ARGS adds arguments to both runs. A dry run here, on a CPU, in a Python like the machine's (no pydantic):
#   MACHINE_TYPE= PYTHON=/path/to/python OUT=/tmp/out BENCH_ARGS="--train-samples 1024 --test-samples 256" \
#     benchmarks/gpu_run.sh device
set -euo pipefail
cd "$(dirname "$0")/.."

PYDANTIC_WHEELS=(pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5)
MACHINE_TYPE="${MACHINE_TYPE-a3-highgpu-1g}"  # empty: no machine named (a dry run on a CPU; a named GPU machine needs a GPU)

device_run() {
    local py="${PYTHON:-python3}"
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    # The package is the folder components/, imported as ai_clusters (what pip install -e would do).
    mkdir -p /tmp/pkg && ln -sfn "$PWD/components" /tmp/pkg/ai_clusters
    export PYTHONPATH="/tmp/site:/tmp/pkg${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    nvidia-smi -L || echo "no nvidia-smi"
    "$py" -c 'import jax; print("jax", jax.__version__, jax.devices())'
    for model in cnn transformer; do
        # shellcheck disable=SC2086 - BENCH_ARGS is a list of arguments
        "$py" -c 'import sys; from ai_clusters.tooling.cli import main; sys.argv[0] = "ai-clusters"; main()' \
            benchmark --model "$model" --epochs 3 ${MACHINE_TYPE:+--machine-type "$MACHINE_TYPE"} ${BENCH_ARGS:-} \
            --output "$OUT/gpu-${MACHINE_TYPE:-local}-$model.json"
    done
    ls -la "$OUT"
}

case "${1:-}" in
prepare)
    version="${2:-3.12}"
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    rm -rf .whl && mkdir -p .whl
    "${PYTHON:-python3}" -m pip download -q --no-deps --only-binary=:all: --python-version "$version" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "${PYDANTIC_WHEELS[@]}"
    ls .whl
    ;;
device)
    : "${OUT:?OUT names the folder whose files come back}"
    device_run 2>&1 | tee "$OUT/gpu-run.log"
    ;;
*)
    sed -n '2,19p' "$0" >&2
    exit 2
    ;;
esac
