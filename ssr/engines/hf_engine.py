"""The transformers engine: ``AutoModelForCausalLM`` with a small batched decoding loop.

No vLLM needed: works wherever torch and transformers run (CPU or one GPU),
at a fraction of vLLM's speed. Prompts go in padded batches of ``batch_size``
(left padding, explicit position ids, a KV cache). Each request samples with
its own seeded ``torch.Generator`` and its own temperature/top-p/max_tokens,
so its tokens depend only on its prompt and params (up to floating-point
differences that padding can cause), never on the other requests in the batch.

Same conventions as vLLM: stop strings end generation and are cut from the
text (the token that completed a stop string is still counted in
``completion_tokens``), the EOS token ends generation with ``"stop"`` and is
counted but not shown, ``"length"`` when ``max_tokens`` (or
``max_model_len``) is reached. No prefix cache: ``cached_prompt_tokens`` is None.
"""

from __future__ import annotations

import gc
from typing import Any, Sequence

from ssr.engines.base import (
    Engine,
    EngineError,
    GenerationResult,
    ModelInfo,
    Prompt,
    SamplingParams,
    ScoreResult,
)
from ssr.engines.conventions import (
    check_model_ref,
    check_prompt_length,
    digit_token_ids,
    encode,
    load_tokenizer,
    model_info_from_config,
    prompt_token_ids,
    render_prompt,
    request_params,
    truncate_at_stop,
)

GREEDY_EPS = 1e-5  # temperatures below this decode greedily (as vLLM)


def _torch_dtype(dtype: str | Any, device: str) -> Any:
    import torch

    if not isinstance(dtype, str):
        return dtype
    if dtype == "auto":
        # bf16/fp16 matmuls are slow or missing on most CPUs; on GPU keep the checkpoint's dtype
        return torch.float32 if device == "cpu" else "auto"
    names = {
        "float32": torch.float32,
        "float": torch.float32,
        "float16": torch.float16,
        "half": torch.float16,
        "bfloat16": torch.bfloat16,
    }
    if dtype not in names:
        raise EngineError(f"unknown dtype {dtype!r}; use auto, float32, float16 or bfloat16")
    return names[dtype]


class HFEngine(Engine):
    backend = "hf"

    def __init__(
        self,
        model: str,
        *,
        tokenizer: str | None = None,
        device: str | None = None,
        dtype: str = "auto",
        batch_size: int = 8,
        max_model_len: int | None = None,
    ) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM
        except ImportError as exc:
            raise EngineError(
                f"the hf backend needs torch and transformers: pip install torch transformers ({exc})"
            ) from exc
        self._torch = torch
        self.model_name = check_model_ref(model, "model")
        self.tokenizer_name = check_model_ref(tokenizer, "tokenizer") if tokenizer else self.model_name
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = max(1, int(batch_size))
        self.tokenizer = load_tokenizer(self.tokenizer_name)
        self._digit_ids = digit_token_ids(self.tokenizer)
        try:
            self.model = AutoModelForCausalLM.from_pretrained(self.model_name, dtype=_torch_dtype(dtype, self.device))
        except Exception as exc:  # noqa: BLE001
            raise EngineError(f"transformers could not load {self.model_name!r}: {exc}") from exc
        self.model.to(self.device)
        self.model.eval()
        cfg = self.model.config
        self.max_model_len = max_model_len or getattr(cfg, "max_position_embeddings", None)
        eos: set[int] = set()
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for e in (gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos]) + [self.tokenizer.eos_token_id]:
            if e is not None:
                eos.add(int(e))
        self.eos_ids = eos
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (min(eos) if eos else 0))
        self._info: ModelInfo | None = None

    # ------------------------------------------------------------ helpers
    def render(self, prompt: Prompt) -> str:
        return render_prompt(self.tokenizer, prompt)

    def count_tokens(self, text: str) -> int:
        return len(encode(self.tokenizer, text))

    def _encode_prompts(self, prompts: Sequence[Prompt]) -> list[list[int]]:
        out = []
        for p in prompts:
            ids = prompt_token_ids(self.tokenizer, p)
            if not ids:
                raise EngineError("empty prompt: the transformers engine needs at least one prompt token")
            check_prompt_length(len(ids), self.max_model_len, self.model_name)
            out.append(ids)
        return out

    def _left_pad(self, batch: list[list[int]]) -> tuple[Any, Any, Any]:
        torch = self._torch
        width = max(len(x) for x in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, x in enumerate(batch):
            ids[i, width - len(x) :] = torch.tensor(x, dtype=torch.long)
            mask[i, width - len(x) :] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        return ids.to(self.device), mask.to(self.device), pos.to(self.device)

    def _sample(self, logits: Any, p: SamplingParams, gen: Any) -> int:
        torch = self._torch
        if p.temperature < GREEDY_EPS:
            return int(torch.argmax(logits).item())
        probs = torch.softmax(logits.float() / p.temperature, dim=-1)
        if p.top_p < 1.0:
            sorted_p, order = torch.sort(probs, descending=True)
            drop = (sorted_p.cumsum(-1) - sorted_p) > p.top_p  # keep the smallest set reaching top_p
            sorted_p = sorted_p.masked_fill(drop, 0.0)
            k = torch.multinomial(sorted_p, 1, generator=gen)
            return int(order[k].item())
        return int(torch.multinomial(probs, 1, generator=gen).item())

    def _generator(self, seed: int | None) -> Any:
        gen = self._torch.Generator(device=self.device)
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(int(seed) % (2**63))
        return gen

    def _generate_batch(self, batch: list[list[int]], plist: list[SamplingParams]) -> list[GenerationResult]:
        torch = self._torch
        n = len(batch)
        ids, mask, pos = self._left_pad(batch)
        gens = [self._generator(p.seed) for p in plist]
        out_ids: list[list[int]] = [[] for _ in range(n)]
        texts = [""] * n
        finish: list[str | None] = [None] * n
        stop_reason: list[str | None] = [None] * n
        limits = []
        for x, p in zip(batch, plist):
            room = (self.max_model_len - len(x)) if self.max_model_len else p.max_tokens
            limits.append(max(1, min(p.max_tokens, room)))
        max_stop = {i: max((len(s) for s in p.stop), default=0) for i, p in enumerate(plist)}
        past = None
        for _step in range(max(limits)):
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=pos,
                past_key_values=past,
                use_cache=True,
                logits_to_keep=1,
            )
            past = out.past_key_values
            logits = out.logits[:, -1, :]
            nxt = [self.pad_id] * n
            for i in range(n):
                if finish[i] is not None:
                    continue
                tok = self._sample(logits[i], plist[i], gens[i])
                nxt[i] = tok
                out_ids[i].append(tok)
                if tok in self.eos_ids:
                    finish[i] = "stop"
                    texts[i] = self.tokenizer.decode(out_ids[i], skip_special_tokens=True)
                    continue
                if plist[i].stop:
                    prev = len(texts[i])
                    texts[i] = self.tokenizer.decode(out_ids[i], skip_special_tokens=True)
                    cut, hit = truncate_at_stop(texts[i], plist[i].stop, start=prev - max_stop[i] + 1)
                    if hit is not None:
                        texts[i], finish[i], stop_reason[i] = cut, "stop", hit
                        continue
                if len(out_ids[i]) >= limits[i]:
                    finish[i] = "length"
            if all(f is not None for f in finish):
                break
            ids = torch.tensor(nxt, dtype=torch.long, device=self.device).unsqueeze(1)
            mask = torch.cat([mask, torch.ones((n, 1), dtype=mask.dtype, device=self.device)], dim=1)
            pos = pos[:, -1:] + 1
        results = []
        for i in range(n):
            if stop_reason[i] is None:
                texts[i] = self.tokenizer.decode(out_ids[i], skip_special_tokens=True)
            results.append(
                GenerationResult(
                    text=texts[i],
                    finish_reason=finish[i] or "length",
                    prompt_tokens=len(batch[i]),
                    completion_tokens=len(out_ids[i]),
                    cached_prompt_tokens=None,
                    stop_reason=stop_reason[i],
                )
            )
        return results

    # ------------------------------------------------------------ Engine API
    def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | Sequence[SamplingParams],
        sessions: Sequence[str] | None = None,
    ) -> list[GenerationResult]:
        plist = request_params(prompts, params)
        if not prompts:
            return []
        encoded = self._encode_prompts(prompts)
        results: list[GenerationResult] = []
        with self._torch.inference_mode():
            for s in range(0, len(encoded), self.batch_size):
                results.extend(self._generate_batch(encoded[s : s + self.batch_size], plist[s : s + self.batch_size]))
        return results

    def score_digits(self, prompts: Sequence[Prompt], sessions: Sequence[str] | None = None) -> list[ScoreResult]:
        if not prompts:
            return []
        torch = self._torch
        encoded = self._encode_prompts(prompts)
        digit_idx = torch.tensor(self._digit_ids, device=self.device)
        probs: list[list[float]] = []
        with torch.inference_mode():
            for s in range(0, len(encoded), self.batch_size):
                ids, mask, pos = self._left_pad(encoded[s : s + self.batch_size])
                logits = self.model(
                    input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False, logits_to_keep=1
                ).logits[:, -1, :]
                probs.extend(torch.softmax(logits.float()[:, digit_idx], dim=-1).tolist())
        return [ScoreResult(probs=p, prompt_tokens=len(x), cached_prompt_tokens=None) for p, x in zip(probs, encoded)]

    def counted_params(self) -> int:
        """Parameters counted from the loaded weights, on the same terms as ``ModelInfo.n_params``."""
        total = sum(p.numel() for p in self.model.parameters())  # tied weights appear once
        emb_in = self.model.get_input_embeddings().weight
        emb_out = self.model.get_output_embeddings()
        total -= emb_in.numel()
        if emb_out is not None and emb_out.weight is emb_in:
            total += emb_out.weight.numel()  # the tied LM head is still a matmul per token
        return int(total)

    def info(self) -> ModelInfo:
        if self._info is None:
            self._info = model_info_from_config(self.model.config, self.model_name, self.max_model_len)
            counted = self.counted_params()
            if not self._info.n_params:
                self._info.n_params = counted
            self._info.extra.update(
                backend="hf", counted_params=counted, dtype=str(self.model.dtype), device=self.device
            )
        return self._info

    def close(self) -> None:
        if getattr(self, "model", None) is None:
            return
        self.model = None
        gc.collect()
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()
