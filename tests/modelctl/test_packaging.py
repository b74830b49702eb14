"""modelctl package: deterministic bytes, files at the root (a SavedModel in 1/), links and special files refused."""

from __future__ import annotations

import array
import gzip
import os
import random
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hosting_contract.archive_rules import Layout, check_archive
from modelctl import gzip_io
from modelctl.errors import INVALID, NOT_FOUND, USAGE
from modelctl.packaging import PackagingError, package_directory


def _model(root: Path) -> Path:
    (root / "code").mkdir(parents=True)
    (root / "model.json").write_text('{"weights": [1.0]}')
    (root / "code" / "inference.py").write_text("print('hi')\n")
    (root / "code" / "run.sh").write_text("#!/bin/sh\n")
    (root / "code" / "run.sh").chmod(0o775)
    (root / "model.json").chmod(0o600)
    return root


def test_files_sit_at_the_root_with_normalised_metadata(tmp_path: Path) -> None:
    out = tmp_path / "m.tar.gz"
    package_directory(_model(tmp_path / "src"), out)
    with tarfile.open(out) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["code", "code/inference.py", "code/run.sh", "model.json"]
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 0)}
    assert {m.name: oct(m.mode) for m in members} == {
        "code": "0o755",
        "code/inference.py": "0o644",
        "code/run.sh": "0o755",
        "model.json": "0o644",
    }


def test_same_input_same_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    package_directory(_model(tmp_path / "one"), first)
    source = _model(tmp_path / "two")
    os.utime(source / "model.json", (1, 1_700_000_000))  # other times, same content
    package_directory(source, second)
    assert first.read_bytes() == second.read_bytes()


def test_the_result_passes_validation(tmp_path: Path) -> None:
    out = tmp_path / "m.tar.gz"
    package_directory(_model(tmp_path / "src"), out)
    with out.open("rb") as stream:
        assert check_archive(stream).valid


def test_inner_links_are_kept_outer_ones_refused(tmp_path: Path) -> None:
    source = _model(tmp_path / "src")
    (source / "latest.json").symlink_to("model.json")
    out = tmp_path / "m.tar.gz"
    package_directory(source, out)
    with tarfile.open(out) as tar:
        assert tar.getmember("latest.json").linkname == "model.json"
    (source / "secret").symlink_to("/etc/passwd")
    with pytest.raises(PackagingError, match=r"secret: link to '/etc/passwd' points outside"):
        package_directory(source, tmp_path / "n.tar.gz")
    assert not (tmp_path / "n.tar.gz").exists()


def test_special_files_are_refused(tmp_path: Path) -> None:
    source = _model(tmp_path / "src")
    os.mkfifo(source / "pipe")
    with pytest.raises(PackagingError, match=r"pipe: not a regular file, folder or link"):
        package_directory(source, tmp_path / "m.tar.gz")


def test_layout_is_checked_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "m.tar.gz"
    with pytest.raises(PackagingError, match=r"layout: Multi Model Server layout needs MAR-INF/MANIFEST.json"):
        package_directory(_model(tmp_path / "src"), out, layout=Layout.MMS)
    assert not out.exists()
    assert not list(tmp_path.glob("*.partial"))


def test_output_name_and_source_are_checked(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match=r"must end with .tar.gz") as usage:
        package_directory(_model(tmp_path / "src"), tmp_path / "m.zip")
    assert usage.value.status == USAGE
    with pytest.raises(PackagingError, match=r"missing: no such directory") as missing:
        package_directory(tmp_path / "missing", tmp_path / "m.tar.gz")
    assert missing.value.status == NOT_FOUND
    (tmp_path / "file").write_text("")
    with pytest.raises(PackagingError, match=r"file is not a directory") as not_a_folder:
        package_directory(tmp_path / "file", tmp_path / "m.tar.gz")
    assert not_a_folder.value.status == USAGE


def _saved_model(root: Path, *, code: bool = True) -> Path:
    """The tree tf.saved_model.save() writes (no version folder), with the container's optional code/."""
    (root / "variables").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / "saved_model.pb").write_bytes(b"\x08\x01 graph")
    (root / "fingerprint.pb").write_bytes(b"fp")
    (root / "variables" / "variables.index").write_bytes(b"index")
    (root / "variables" / "variables.data-00000-of-00001").write_bytes(b"weights")
    if code:
        (root / "code").mkdir()
        (root / "code" / "inference.py").write_text("def handler(data, context):\n    return data\n")
        (root / "code" / "requirements.txt").write_text("")
    return root


def test_tensorflow_puts_a_root_saved_model_in_version_folder_1(tmp_path: Path) -> None:
    out = tmp_path / "m.tar.gz"
    package_directory(_saved_model(tmp_path / "src"), out, layout=Layout.TENSORFLOW)
    with tarfile.open(out) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [
        "1",
        "1/assets",
        "1/fingerprint.pb",
        "1/saved_model.pb",
        "1/variables",
        "1/variables/variables.data-00000-of-00001",
        "1/variables/variables.index",
        "code",
        "code/inference.py",
        "code/requirements.txt",
    ]
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 0)}
    assert {m.name: oct(m.mode) for m in members if m.isdir()} == {
        "1": "0o755",
        "1/assets": "0o755",
        "1/variables": "0o755",
        "code": "0o755",
    }
    with out.open("rb") as stream:
        assert check_archive(stream, layout=Layout.TENSORFLOW).valid


def test_tensorflow_packaging_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    package_directory(_saved_model(tmp_path / "one"), first, layout=Layout.TENSORFLOW)
    source = _saved_model(tmp_path / "two")
    os.utime(source / "saved_model.pb", (1, 1_700_000_000))
    package_directory(source, second, layout=Layout.TENSORFLOW)
    assert first.read_bytes() == second.read_bytes()


def test_tensorflow_keeps_an_existing_version_folder(tmp_path: Path) -> None:
    source = tmp_path / "src"
    _saved_model(source / "model_a" / "3", code=False)
    _saved_model(source / "model_b" / "1", code=False)
    out = tmp_path / "m.tar.gz"
    package_directory(source, out, layout=Layout.TENSORFLOW)
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert "model_a/3/saved_model.pb" in names
    assert "model_b/1/saved_model.pb" in names
    assert not any(n.startswith("1/") for n in names)


def test_tensorflow_links_follow_what_moved(tmp_path: Path) -> None:
    source = _saved_model(tmp_path / "src")
    (source / "model.pb").symlink_to("saved_model.pb")  # moves with its target: unchanged
    (source / "code" / "vocabulary").symlink_to("../assets")  # stays while its target moves
    out = tmp_path / "m.tar.gz"
    package_directory(source, out, layout=Layout.TENSORFLOW)
    with tarfile.open(out) as tar:
        assert tar.getmember("1/model.pb").linkname == "saved_model.pb"
        assert tar.getmember("code/vocabulary").linkname == "../1/assets"


def test_tensorflow_without_a_saved_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match=r"layout: the archive holds no saved_model.pb"):
        package_directory(_model(tmp_path / "src"), tmp_path / "m.tar.gz", layout=Layout.TENSORFLOW)


def test_other_layouts_leave_a_root_saved_model_where_it_is(tmp_path: Path) -> None:
    out = tmp_path / "m.tar.gz"
    package_directory(_saved_model(tmp_path / "src"), out)
    with tarfile.open(out) as tar:
        assert "saved_model.pb" in tar.getnames()


def test_an_output_inside_the_source_is_not_archived(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _model(tmp_path / "src")
    monkeypatch.chdir(source)
    package_directory(Path("."), Path("model.tar.gz"))
    package_directory(Path("."), Path("model.tar.gz"))  # a second run must not pick up the first one's archive
    with tarfile.open(source / "model.tar.gz") as tar:
        assert tar.getnames() == ["code", "code/inference.py", "code/run.sh", "model.json"]


def test_earlier_outputs_and_unfinished_files_are_left_out(tmp_path: Path) -> None:
    source = _model(tmp_path / "src")
    package_directory(_model(tmp_path / "other"), source / "v1.tar.gz")  # an earlier -o inside the source
    (source / "v2.tar.gz.partial").write_bytes(b"an interrupted run's")
    (source / "data.tar.gz").write_bytes(gzip.compress(b"the model's own data"))  # not written by package
    packaged = package_directory(source, source / "v2.tar.gz")
    assert packaged.skipped == ["v1.tar.gz"]  # v2.tar.gz.partial was this run's own file: used, then removed
    assert not (source / "v2.tar.gz.partial").exists()
    (source / "v3.tar.gz.partial").write_bytes(b"another interrupted run's")
    packaged = package_directory(source, tmp_path / "v3.tar.gz")
    assert packaged.skipped == ["v1.tar.gz", "v2.tar.gz", "v3.tar.gz.partial"]
    with tarfile.open(tmp_path / "v3.tar.gz") as tar:
        assert tar.getnames() == ["code", "code/inference.py", "code/run.sh", "data.tar.gz", "model.json"]


def test_an_output_inside_the_source_through_a_link_is_not_archived(tmp_path: Path) -> None:
    source = _model(tmp_path / "src")
    (tmp_path / "alias").symlink_to(source)
    for _ in range(2):
        package_directory(source, tmp_path / "alias" / "model.tar.gz")
    with tarfile.open(source / "model.tar.gz") as tar:
        assert tar.getnames() == ["code", "code/inference.py", "code/run.sh", "model.json"]


def test_the_archive_is_modelctl_s_gzip_and_as_small_as_gzip_6_on_weights(tmp_path: Path) -> None:
    source = _model(tmp_path / "src")
    rng = random.Random(3)
    # 6 MiB: more than one of modelctl's 4 MiB gzip members. A 1 MiB block of float32 weights, repeated: deflate
    # sees 32 KiB back (RFC 1951), so a repeat 1 MiB away compresses no better than new weights, for either.
    weights = array.array("f", (rng.gauss(0.0, 0.02) for _ in range(262_144))).tobytes() * 6
    (source / "model.bin").write_bytes(weights)
    out = tmp_path / "m.tar.gz"
    size = package_directory(source, out).size
    assert gzip_io.is_ours(out)
    # gzip -6 of the very same tar stream: within 5% (float32 weights: within a fraction of a percent).
    reference = len(gzip.compress(gzip.decompress(out.read_bytes()), compresslevel=6))
    assert size <= reference * 1.05


def test_progress_follows_the_files_then_the_check(tmp_path: Path) -> None:
    source = _model(tmp_path / "src")
    seen: list[tuple[str, int, int]] = []

    @contextmanager
    def progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
        steps: list[int] = []
        yield steps.append
        seen.append((description, total, sum(steps)))

    out = tmp_path / "m.tar.gz"
    package_directory(source, out, progress=progress)
    files = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    assert seen == [("packaging m.tar.gz", files, files), ("checking m.tar.gz", out.stat().st_size, out.stat().st_size)]


def test_an_invalid_result_is_an_invalid_archive(tmp_path: Path) -> None:
    with pytest.raises(PackagingError) as invalid:
        package_directory(_model(tmp_path / "src"), tmp_path / "m.tar.gz", layout=Layout.TRITON)
    assert invalid.value.status == INVALID
