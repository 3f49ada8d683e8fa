"""The benchmark's two models and its optimizer, in plain JAX (no neural-network library).

- CNN (MNIST-shaped input): conv 3x3 (32) -> ReLU -> max-pool 2 -> conv 3x3 (64) -> ReLU ->
  max-pool 2 -> dense 128 -> ReLU -> dense 10. About 421,000 parameters.
- Transformer: decoder-only, pre-LayerNorm, learned token and position embeddings, causal
  multi-head attention and a GELU MLP per layer, untied output projection.
- Adam (Kingma & Ba, 2015) with the usual defaults, written out so the workload has no
  optimizer-library version in it.

Parameters and optimizer state are float32; `dtype` is the compute precision (activations and
matmul inputs). Losses and accuracies are computed in float32.
"""

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ai_clusters.tooling.benchmark.config import ModelKind

Params = dict[str, Any]


def _dense_init(key: jax.Array, fan_in: int, fan_out: int) -> dict[str, jax.Array]:
    w = jax.random.normal(key, (fan_in, fan_out), jnp.float32) * math.sqrt(2.0 / fan_in)
    return {"w": w, "b": jnp.zeros((fan_out,), jnp.float32)}


def _conv_init(key: jax.Array, c_in: int, c_out: int) -> dict[str, jax.Array]:
    w = jax.random.normal(key, (3, 3, c_in, c_out), jnp.float32) * math.sqrt(2.0 / (9 * c_in))
    return {"w": w, "b": jnp.zeros((c_out,), jnp.float32)}


def _cast(tree: Any, dtype: Any) -> Any:
    return jax.tree_util.tree_map(lambda a: a.astype(dtype), tree)


# --- CNN ----------------------------------------------------------------------------------------
def cnn_init(key: jax.Array, shape: dict[str, int]) -> Params:
    k = jax.random.split(key, 4)
    return {
        "conv1": _conv_init(k[0], 1, shape["conv1"]),
        "conv2": _conv_init(k[1], shape["conv1"], shape["conv2"]),
        "dense": _dense_init(k[2], 7 * 7 * shape["conv2"], shape["dense"]),
        "out": _dense_init(k[3], shape["dense"], 10),
    }


def _conv(x: jax.Array, p: dict[str, jax.Array]) -> jax.Array:
    y = lax.conv_general_dilated(x, p["w"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + p["b"]


def _max_pool(x: jax.Array) -> jax.Array:
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def cnn_apply(params: Params, images: jax.Array, dtype: Any) -> jax.Array:
    """uint8 images (B, 28, 28) -> float32 logits (B, 10)."""
    p = _cast(params, dtype)
    x = (images.astype(dtype) / 255.0)[..., None]
    x = _max_pool(jax.nn.relu(_conv(x, p["conv1"])))
    x = _max_pool(jax.nn.relu(_conv(x, p["conv2"])))
    x = x.reshape(x.shape[0], -1)
    x = jax.nn.relu(x @ p["dense"]["w"] + p["dense"]["b"])
    return (x @ p["out"]["w"] + p["out"]["b"]).astype(jnp.float32)


# --- Transformer --------------------------------------------------------------------------------
def transformer_init(key: jax.Array, shape: dict[str, int]) -> Params:
    d, v, layers = shape["d_model"], shape["vocab"], shape["layers"]
    keys = jax.random.split(key, 3 + 4 * layers)
    ln = lambda: {"scale": jnp.ones((d,), jnp.float32), "bias": jnp.zeros((d,), jnp.float32)}  # noqa: E731
    blocks = []
    for i in range(layers):
        kq, ko, k1, k2 = keys[3 + 4 * i : 7 + 4 * i]
        out_scale = 1.0 / math.sqrt(2 * layers)  # keep the residual stream's variance flat with depth
        qkv = _dense_init(kq, d, 3 * d)
        proj = _dense_init(ko, d, d)
        mlp_out = _dense_init(k2, shape["mlp"], d)
        blocks.append(
            {
                "ln1": ln(),
                "qkv": qkv,
                "proj": {**proj, "w": proj["w"] * out_scale},
                "ln2": ln(),
                "mlp_in": _dense_init(k1, d, shape["mlp"]),
                "mlp_out": {**mlp_out, "w": mlp_out["w"] * out_scale},
            }
        )
    return {
        "tok": jax.random.normal(keys[0], (v, d), jnp.float32) * 0.02,
        "pos": jax.random.normal(keys[1], (shape["seq_len"], d), jnp.float32) * 0.02,
        "blocks": blocks,
        "ln_f": ln(),
        "head": _dense_init(keys[2], d, v),
    }


def _layer_norm(x: jax.Array, p: dict[str, jax.Array]) -> jax.Array:
    x32 = x.astype(jnp.float32)
    mean = x32.mean(-1, keepdims=True)
    var = ((x32 - mean) ** 2).mean(-1, keepdims=True)
    return ((x32 - mean) * lax.rsqrt(var + 1e-5) * p["scale"] + p["bias"]).astype(x.dtype)


def _attention(x: jax.Array, p: Params, heads: int) -> jax.Array:
    b, t, d = x.shape
    q, k, v = jnp.split(x @ p["qkv"]["w"] + p["qkv"]["b"], 3, axis=-1)
    split = lambda a: a.reshape(b, t, heads, d // heads)  # noqa: E731
    q, k, v = split(q), split(k), split(v)
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k).astype(jnp.float32) / math.sqrt(d // heads)
    causal = jnp.tril(jnp.ones((t, t), bool))
    weights = jax.nn.softmax(jnp.where(causal, scores, -1e30), axis=-1).astype(x.dtype)
    out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, t, d)
    return out @ p["proj"]["w"] + p["proj"]["b"]


def transformer_apply(params: Params, tokens: jax.Array, dtype: Any, heads: int) -> jax.Array:
    """int32 tokens (B, T) -> float32 next-token logits (B, T, vocab)."""
    p = _cast(params, dtype)
    x = p["tok"][tokens] + p["pos"][: tokens.shape[1]]
    for blk in p["blocks"]:
        x = x + _attention(_layer_norm(x, blk["ln1"]), blk, heads)
        h = jax.nn.gelu(_layer_norm(x, blk["ln2"]) @ blk["mlp_in"]["w"] + blk["mlp_in"]["b"])
        x = x + h @ blk["mlp_out"]["w"] + blk["mlp_out"]["b"]
    x = _layer_norm(x, p["ln_f"])
    return (x @ p["head"]["w"] + p["head"]["b"]).astype(jnp.float32)


# --- the model a config asks for ----------------------------------------------------------------
class Model(NamedTuple):
    init: Callable[[jax.Array], Params]
    apply: Callable[[Params, jax.Array], jax.Array]


def build(model: ModelKind, shape: dict[str, int], dtype: Any) -> Model:
    if model == ModelKind.CNN:
        return Model(lambda key: cnn_init(key, shape), lambda p, x: cnn_apply(p, x, dtype))
    return Model(
        lambda key: transformer_init(key, shape),
        lambda p, x: transformer_apply(p, x, dtype, shape["heads"]),
    )


def parameter_count(params: Params) -> int:
    return int(sum(a.size for a in jax.tree_util.tree_leaves(params)))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy over every position."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(logp, labels[..., None], axis=-1).mean()


# --- Adam ---------------------------------------------------------------------------------------
class AdamState(NamedTuple):
    step: jax.Array
    mu: Params
    nu: Params


def adam_init(params: Params) -> AdamState:
    zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)  # noqa: E731 - two trees: both are donated
    return AdamState(jnp.zeros((), jnp.int32), zeros(), zeros())


def adam_update(
    params: Params, grads: Params, state: AdamState, lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> tuple[Params, AdamState]:
    step = state.step + 1
    mu = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
    nu = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, grads)
    t = step.astype(jnp.float32)
    scale = lr * jnp.sqrt(1 - b2**t) / (1 - b1**t)
    new = jax.tree_util.tree_map(lambda p, m, v: p - scale * m / (jnp.sqrt(v) + eps), params, mu, nu)
    return new, AdamState(step, mu, nu)
