"""Memory estimates per GPU: weights, what vLLM's start-up profile reserves besides them, and the KV cache.

vLLM 0.32 (``vllm/v1/worker/gpu_worker.py::determine_available_memory``) gives the KV cache
``gpu_memory_utilization x total - (weights + non-torch memory + activation peak) - CUDA-graph memory``,
measured in a profile run: one forward pass over ``max_num_batched_tokens`` dummy tokens, then the sampler
over ``max_num_seqs`` dummy requests, then (since v0.21) an estimate of the CUDA graphs' pool. The plan
cannot measure, so it models each term; the constants below are estimates, and
``scripts/gpu_smoke.sh`` compares the plan with what vLLM logs.

* forward peak: the tokens' live tensors in one layer: the residual and its normed copy (2 x hidden),
  the q/k/v projection's output, the MLP's gate/up output (2 x intermediate) and its activation
  (1 x intermediate), all split by TP except the hidden ones, in the model's dtype;
* sampler peak: ``max_num_seqs`` x vocab x ``SAMPLER_BYTES_PER_LOGIT`` (float32 logits, float32 sorted
  values for top-k/top-p, and a float32 working copy); the logits are gathered whole on every rank;
* CUDA graphs: ``CUDA_GRAPH_BYTES`` unless ``enforce_eager`` (vLLM logs 0.3-1 GiB for dense models);
* non-torch memory (cuBLAS workspaces; with TP > 1 NCCL and custom all-reduce buffers):
  ``NON_TORCH_BYTES`` plus ``NON_TORCH_TP_BYTES`` at TP > 1 (vLLM PR #10511's logs on an H100: 1.79 GiB
  at TP 1, 3.58 GiB at TP 2 for Llama-3-8B, which counted the CUDA context; later versions snapshot
  after it).

vLLM's batch defaults for the ``LLM`` class (``EngineArgs.get_batch_defaults``): 16384 tokens and 1024
sequences on GPUs of 70 GiB or more that are not A100s, else 8192 and 256.

KV bytes per token per GPU: 2 (K and V) x layers x max(kv_heads / TP, 1) x head_dim x dtype bytes (vLLM
replicates KV heads when TP exceeds them); capacity is whole blocks of ``block_size`` tokens.
"""

from __future__ import annotations

from ssr.plan.shapes import ModelShape

GIB = 1 << 30
SAMPLER_BYTES_PER_LOGIT = 12
CUDA_GRAPH_BYTES = GIB // 2
NON_TORCH_BYTES = GIB // 2
NON_TORCH_TP_BYTES = 3 * GIB // 2
# One CUDA context per engine process on a GPU, outside every engine's share: two shares on one GPU
# must leave room for it (vLLM refuses to start when free memory is below its share).
CONTEXT_BYTES = GIB // 2
GPU_BLOCK_SIZE = 16  # vLLM's default on CUDA

DTYPE_BYTES = {
    "float32": 4, "float": 4, "fp32": 4,
    "bfloat16": 2, "bf16": 2, "float16": 2, "half": 2, "fp16": 2,
    "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "fp8_inc": 1, "int8": 1,
}


def dtype_bytes(dtype: str | None, default: str = "bfloat16") -> int:
    """Bytes per element of a dtype name (``torch.bfloat16``, ``bfloat16``, ``auto`` -> ``default``)."""
    name = str(dtype or "auto").replace("torch.", "").lower()
    if name == "auto":
        name = default
    if name not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(sorted(DTYPE_BYTES))}")
    return DTYPE_BYTES[name]


def weight_bytes(shape: ModelShape, tp: int, nbytes: int) -> int:
    """One rank's weights: the split parameters divided by TP plus the replicated norms."""
    split = shape.n_params - shape.replicated_params
    return (split // tp + shape.replicated_params) * nbytes


def batch_defaults(gpu_name: str, gpu_bytes: int) -> tuple[int, int]:
    """``(max_num_batched_tokens, max_num_seqs)`` vLLM's LLM class uses on this GPU when not given."""
    if gpu_bytes >= 160 * GIB or (gpu_bytes >= 70 * GIB and "a100" not in gpu_name.lower()):
        return 16384, 1024
    return 8192, 256


def activation_bytes(
    shape: ModelShape, tp: int, nbytes: int, *, max_tokens: int, max_seqs: int, eager: bool
) -> int:
    """What vLLM's profile run adds to the weights on one rank (see the module docstring)."""
    qkv = (shape.num_heads + 2 * shape.num_kv_heads) * shape.head_dim // tp
    forward = max_tokens * nbytes * (2 * shape.hidden_size + qkv + 3 * shape.intermediate_size // tp)
    sampler = max_seqs * shape.vocab_size * SAMPLER_BYTES_PER_LOGIT
    graphs = 0 if eager else CUDA_GRAPH_BYTES
    non_torch = NON_TORCH_BYTES + (NON_TORCH_TP_BYTES if tp > 1 else 0)
    return forward + sampler + graphs + non_torch


def kv_bytes_per_token(shape: ModelShape, tp: int, nbytes: int) -> int:
    return 2 * shape.num_layers * max(shape.num_kv_heads // tp, 1) * shape.head_dim * nbytes


def kv_capacity_tokens(kv_bytes: int, per_token: int, block_size: int) -> int:
    """Tokens the KV cache holds: whole blocks only."""
    if kv_bytes <= 0:
        return 0
    return (kv_bytes // (per_token * block_size)) * block_size
