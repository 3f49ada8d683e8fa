"""`ai-clusters benchmark`: measure a fixed training workload, then compare machines per epoch.

Google Cloud's advice for picking an accelerator tier ends with "validate performance for the
customer's scenario": the tier cheapest per hour is not always cheapest per epoch. This package
measures one documented workload, written once in JAX so the same code runs on CPU, NVIDIA GPUs
and Cloud TPUs through XLA, on every local device (data-parallel):

- `--model cnn` (default): a small CNN (two 3x3 convolutions of 32 and 64 channels, each with
  ReLU and 2x2 max-pooling, a 128-unit dense layer, 10 outputs; 421,642 parameters) trained with
  Adam (learning rate 1e-3) at a global batch of 256 on MNIST-shaped data: 60,000 training and
  10,000 test images of 28x28, 10 classes. The images are generated from a seed (nothing is
  downloaded): ten stroke glyphs, shifted, faded, overlaid with another class's glyph and noise,
  hard enough that accuracy climbs over the epochs. `--mnist PATH` trains on a local MNIST copy.
- `--model transformer`: a decoder-only transformer (2 layers, width 128, 4 heads, MLP 512,
  vocabulary 64, context 64) trained with Adam (3e-3) at a global batch of 128 sequences on
  16,384 synthetic sequences that each repeat a random 16-token pattern; accuracy counts the
  positions that the pattern makes predictable.

Each run reports time per epoch after compilation (and the compilation apart), samples per
second, peak accelerator memory, accelerator utilisation where the platform reports it, and the
test accuracy after every epoch, with the machine, devices, host CPU and software versions, as
JSON (`results.BenchmarkResult`). `report` compares runs from several machines (speed-up over
CPU, cost per epoch at catalog list prices), and `results.seconds_per_epoch_by_tier` feeds the
advisor (`ai-clusters recommend --benchmarks DIR`).

Modules: `config` (the workload's knobs), `results` (the result file, no JAX), `report` (table
and chart), `system` (host, machine and GPU facts), and, needing the `validate` extra, `data`
(numpy), `nets` (the models and Adam in JAX) and `run` (placing, compiling, timing). Importing
this package does not import JAX.
"""
