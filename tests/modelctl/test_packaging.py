"""modelctl package: deterministic bytes, files at the root, links and special files refused."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from modelctl.archive_rules import Layout, check_archive
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
    with pytest.raises(PackagingError, match=r"must end with .tar.gz"):
        package_directory(_model(tmp_path / "src"), tmp_path / "m.zip")
    with pytest.raises(PackagingError, match=r"is not a directory"):
        package_directory(tmp_path / "missing", tmp_path / "m.tar.gz")
