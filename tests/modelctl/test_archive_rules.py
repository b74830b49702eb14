"""Every rule of the shared checker fires on an archive built to break it."""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hosting_contract.archive_rules import Layout, Limits, check_archive, check_key, tag_value
from modelctl.cli import main
from tests.modelctl.archives import Entry, extract, good, saved_model, tar_gz, tensorflow_code


def _rules(data: bytes, layout: Layout = Layout.FLAT, limits: Limits | None = None) -> list[str]:
    return [p.rule for p in check_archive(io.BytesIO(data), layout=layout, limits=limits).problems]


def test_a_good_archive_is_valid() -> None:
    report = check_archive(io.BytesIO(good()))
    assert report.valid
    assert report.entries == 2
    assert report.uncompressed_bytes == len(b'{"weights": [1.0], "bias": 0}') + len(b"print(1)\n")
    assert report.compressed_bytes == len(good())


@pytest.mark.parametrize(
    ("entries", "rule"),
    [
        ([Entry("/etc/passwd", b"x")], "absolute-path"),
        ([Entry("../evil.py", b"x")], "path-escape"),
        ([Entry("a/../../evil.py", b"x")], "path-escape"),
        ([Entry("model.bin", b"x"), Entry("link", type=tarfile.SYMTYPE, linkname="/etc/shadow")], "link-escape"),
        ([Entry("model.bin", b"x"), Entry("link", type=tarfile.SYMTYPE, linkname="../../outside")], "link-escape"),
        ([Entry("model.bin", b"x"), Entry("hard", type=tarfile.LNKTYPE, linkname="../outside")], "link-escape"),
        ([Entry("model.bin", b"x"), Entry("hard", type=tarfile.LNKTYPE, linkname="not-in-archive")], "link-escape"),
        ([Entry("model.bin", b"x"), Entry("tty", type=tarfile.CHRTYPE)], "special-file"),
        ([Entry("model.bin", b"x"), Entry("disk", type=tarfile.BLKTYPE)], "special-file"),
        ([Entry("model.bin", b"x"), Entry("pipe", type=tarfile.FIFOTYPE)], "special-file"),
    ],
)
def test_hostile_entries(entries: list[Entry], rule: str) -> None:
    assert rule in _rules(tar_gz(entries))


def test_links_inside_the_archive_are_fine() -> None:
    entries = [
        Entry("weights/v1.bin", b"x"),
        Entry("model.bin", type=tarfile.SYMTYPE, linkname="weights/v1.bin"),
        Entry("copy.bin", type=tarfile.LNKTYPE, linkname="weights/v1.bin"),
    ]
    assert _rules(tar_gz(entries)) == []


def test_empty_archive() -> None:
    assert _rules(tar_gz([])) == ["empty"]
    assert _rules(tar_gz([Entry("folder", type=tarfile.DIRTYPE)])) == ["empty"]


def test_wrapping_top_folder_is_refused_with_the_fix() -> None:
    report = check_archive(io.BytesIO(tar_gz([Entry("mymodel/model.json", b"{}"), Entry("mymodel/code/a.py", b"")])))
    assert [p.rule for p in report.problems] == ["wrapped"]
    assert "tar czf model.tar.gz -C mymodel ." in report.problems[0].message
    assert "modelctl package mymodel -o model.tar.gz" in report.problems[0].message


def test_size_limit() -> None:
    data = tar_gz([Entry("a.bin", os.urandom(3000))])
    assert _rules(data, limits=Limits(max_uncompressed_bytes=2000)) == ["size"]


def test_entry_limit() -> None:
    data = tar_gz([Entry(f"f{i}", b"x") for i in range(6)])
    assert _rules(data, limits=Limits(max_entries=5)) == ["entry-count"]


def test_decompression_bomb_is_stopped_early() -> None:
    bomb = tar_gz([Entry("zeros.bin", bytes(20 * 1024 * 1024))])  # 20 MiB of zeros, ~20 KiB compressed
    limits = Limits(max_compression_ratio=100, ratio_grace_bytes=1024 * 1024)
    report = check_archive(io.BytesIO(bomb), limits=limits)
    assert [p.rule for p in report.problems] == ["compression-ratio"]
    assert report.uncompressed_bytes < 20 * 1024 * 1024  # it stopped reading


def test_truncated_gzip() -> None:
    data = good()
    assert _rules(data[: len(data) // 2]) == ["corrupt"]


def test_bad_gzip_checksum() -> None:
    data = bytearray(good())
    data[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    assert _rules(bytes(data)) == ["corrupt"]


def test_not_gzip_and_not_tar() -> None:
    assert _rules(b"PK\x03\x04 a zip file") == ["corrupt"]
    assert _rules(gzip.compress(b"just text, not a tar archive" * 20)) == ["corrupt"]


def test_mms_layout() -> None:
    assert _rules(good(), Layout.MMS) == ["layout"]
    assert _rules(tar_gz([Entry("MAR-INF/MANIFEST.json", b"{}"), Entry("model.pt", b"x")]), Layout.MMS) == []


def test_triton_layout() -> None:
    assert _rules(good(), Layout.TRITON) == ["layout"]
    no_version = tar_gz([Entry("resnet/config.pbtxt", b"name: 'resnet'"), Entry("resnet/model.onnx", b"x")])
    assert _rules(no_version, Layout.TRITON) == ["layout"]
    ok = tar_gz([Entry("resnet/config.pbtxt", b"name: 'resnet'"), Entry("resnet/1/model.onnx", b"x")])
    assert _rules(ok, Layout.TRITON) == []


# -- TensorFlow Serving ------------------------------------------------------------------------------------


def _messages(data: bytes, layout: Layout) -> list[str]:
    return [p.message for p in check_archive(io.BytesIO(data), layout=layout).problems]


def _tensorflow_serving_models(root: Path) -> dict[str, list[str]]:
    """The models and versions the SageMaker TensorFlow Serving container would configure for ``root``.

    Mirrors tfs_utils.find_models() and find_model_versions() (aws/sagemaker-tensorflow-serving-container,
    docker/build_artifacts/sagemaker/tfs_utils.py): a model is a folder whose numeric sub-folder holds
    saved_model.pb; its versions are its numeric sub-folders with leading zeros stripped.
    """
    models = {
        str(found.parent.parent.relative_to(root))
        for found in root.rglob("saved_model.pb")
        if re.match(r"^\d+$", found.parent.name)
    }
    return {m: [v.name.lstrip("0") for v in (root / m).iterdir() if v.name.isnumeric()] for m in sorted(models)}


def _loads_in_tensorflow_serving(data: bytes, scratch: Path) -> bool:
    models = _tensorflow_serving_models(extract(data, scratch))
    return bool(models) and all(versions and all(versions) for versions in models.values())


def test_tensorflow_layout_accepts_a_versioned_saved_model_with_code(tmp_path: Path) -> None:
    data = tar_gz([*saved_model("1"), *tensorflow_code()])
    assert _rules(data, Layout.TENSORFLOW) == []
    assert _loads_in_tensorflow_serving(data, tmp_path)


def test_tensorflow_layout_accepts_several_models() -> None:
    data = tar_gz([*saved_model("model_a/1"), *saved_model("model_b/2"), *tensorflow_code()])
    assert _rules(data, Layout.TENSORFLOW) == []


def test_tensorflow_layout_refuses_a_saved_model_at_the_root_with_a_fix() -> None:
    (message,) = _messages(tar_gz([*saved_model(""), *tensorflow_code()]), Layout.TENSORFLOW)
    assert "saved_model.pb is at the archive root" in message
    assert "put it in a numeric version folder: modelctl package DIR --layout tensorflow" in message
    assert "(writes 1/saved_model.pb" in message


def test_tensorflow_layout_needs_a_saved_model() -> None:
    (message,) = _messages(good(), Layout.TENSORFLOW)
    assert message.startswith("the archive holds no saved_model.pb")


def test_tensorflow_layout_refuses_an_all_zero_version() -> None:
    # The container strips leading zeros: "0" becomes "" and TF Serving's config fails to parse.
    (message,) = _messages(tar_gz(saved_model("0")), Layout.TENSORFLOW)
    assert "all-zero version folder" in message
    assert _rules(tar_gz(saved_model("007")), Layout.TENSORFLOW) == []


def test_flat_layout_recognises_a_tensorflow_archive_instead_of_unwrapping_it() -> None:
    data = tar_gz(saved_model("1"))
    (problem,) = check_archive(io.BytesIO(data)).problems
    assert "this is the TensorFlow Serving layout: check it with --layout tensorflow" in problem.message
    assert "tar czf" not in problem.message
    assert "package the folder's contents" not in problem.message
    assert _rules(data, Layout.TENSORFLOW) == []
    multi = tar_gz(saved_model("mymodel/3"))
    assert "check it with --layout tensorflow" in _messages(multi, Layout.FLAT)[0]


def test_flat_layout_recognises_a_triton_model_instead_of_unwrapping_it() -> None:
    data = tar_gz([Entry("resnet/config.pbtxt", b"name: 'resnet'"), Entry("resnet/1/model.onnx", b"x")])
    (message,) = _messages(data, Layout.FLAT)
    assert "check it with --layout triton" in message


def test_flat_layout_keeps_code_where_the_containers_look() -> None:
    (message,) = _messages(tar_gz([Entry("code/inference.py", b"")]), Layout.FLAT)
    assert "tar czf" not in message
    assert "beside code/" in message


# -- every rejection's advice, followed to the letter, gives an archive that passes and loads ---------------
#
# Each case builds a rejected archive, unpacks it as its author would have it on disk, does what the message
# says in prose (moving files), then runs the commands the message names, verbatim: "modelctl package ..." through
# modelctl's own main(), "tar czf ..." through tar. Placeholders (DIR, REPO) stand for folders the author names.

_PACKAGE = re.compile(r"modelctl package (\S+) (?:--layout (\w+) )?-o (\S+?\.tar\.gz)")
_TAR = re.compile(r"tar czf (\S+?\.tar\.gz) -C (\S+) \.")
_RECHECK = re.compile(r"check it with --layout (\w+)")


def _nothing(_: Path) -> dict[str, str]:
    return {}


def _the_whole_folder(_: Path) -> dict[str, str]:
    return {"DIR": "."}


def _add_the_model_beside_code(root: Path) -> dict[str, str]:
    (root / "model.pth").write_bytes(b"weights")
    return {"DIR": "."}


def _into_a_triton_repository(root: Path) -> dict[str, str]:
    (root / "repo" / "resnet").mkdir(parents=True)
    for name in ("config.pbtxt", "1"):
        shutil.move(root / name, root / "repo" / "resnet" / name)
    return {"REPO": "repo"}


def _into_version_one(root: Path) -> dict[str, str]:
    (root / "model_b" / "1").mkdir()
    for name in ("saved_model.pb", "variables"):
        shutil.move(root / "model_b" / name, root / "model_b" / "1" / name)
    return {}


def _copy_code_in(root: Path) -> dict[str, str]:
    shutil.copytree(root / "code", root / "mymodel" / "code")
    return {}


def _rename_zero(root: Path) -> dict[str, str]:
    (root / "0").rename(root / "1")
    return {}


def _serves_files_at_the_root(*names: str) -> Callable[[bytes, Path], bool]:
    """A framework container: model_fn(model_dir) opens these files in the model directory."""
    return lambda data, _: set(names) <= set(_names(data))


def _serves_mms(data: bytes, _: Path) -> bool:
    # MMS reads <model dir>/MAR-INF/MANIFEST.json (ModelArchive.load in awslabs/multi-model-server).
    return "MAR-INF/MANIFEST.json" in _names(data)


def _serves_triton(data: bytes, _: Path) -> bool:
    # The archive root is the model repository: <model>/config.pbtxt beside a numeric <model>/<n>/ with a file.
    names = _names(data)
    models = {n.split("/")[0] for n in names if n.count("/") == 1 and n.endswith("/config.pbtxt")}
    return bool(models) and all(
        any(n.count("/") >= 2 and n.startswith(f"{m}/") and n.split("/")[1].isdigit() for n in names) for m in models
    )


_CASES: dict[str, tuple[list[Entry], Layout, Callable[[Path], dict[str, str]], Callable[[bytes, Path], bool]]] = {
    "flat, wrapped": (
        [Entry("mymodel/model.json", b"{}"), Entry("mymodel/code/inference.py", b"")],
        Layout.FLAT,
        _nothing,
        _serves_files_at_the_root("model.json", "code/inference.py"),
    ),
    "flat, a TensorFlow archive": (saved_model("1"), Layout.FLAT, _nothing, _loads_in_tensorflow_serving),
    "flat, a Triton model": (
        [Entry("resnet/config.pbtxt", b"name: 'resnet'"), Entry("resnet/1/model.onnx", b"x")],
        Layout.FLAT,
        _nothing,
        _serves_triton,
    ),
    "flat, code only": (
        [Entry("code/inference.py", b"")],
        Layout.FLAT,
        _add_the_model_beside_code,
        _serves_files_at_the_root("model.pth", "code/inference.py"),
    ),
    "mms, wrapped manifest": (
        [Entry("mymodel/MAR-INF/MANIFEST.json", b"{}"), Entry("mymodel/model.pt", b"x")],
        Layout.MMS,
        _nothing,
        _serves_mms,
    ),
    "triton, config at the root": (
        [Entry("config.pbtxt", b"name: 'resnet'"), Entry("1/model.onnx", b"x")],
        Layout.TRITON,
        _into_a_triton_repository,
        _serves_triton,
    ),
    "triton, wrapped repository": (
        [Entry("repo/resnet/config.pbtxt", b"name: 'resnet'"), Entry("repo/resnet/1/model.onnx", b"x")],
        Layout.TRITON,
        _nothing,
        _serves_triton,
    ),
    "tensorflow, saved model at the root": (
        [*saved_model(""), *tensorflow_code()],
        Layout.TENSORFLOW,
        _the_whole_folder,
        _loads_in_tensorflow_serving,
    ),
    "tensorflow, one of several without a version": (
        [*saved_model("model_a/1"), *saved_model("model_b")],
        Layout.TENSORFLOW,
        _into_version_one,
        _loads_in_tensorflow_serving,
    ),
    "tensorflow, in a named folder": (
        [*saved_model("mymodel"), *tensorflow_code()],
        Layout.TENSORFLOW,
        _copy_code_in,
        _loads_in_tensorflow_serving,
    ),
    "tensorflow, a training job's export": (
        saved_model("export/Servo/1700000000"),
        Layout.TENSORFLOW,
        _nothing,
        _loads_in_tensorflow_serving,
    ),
    "tensorflow, version zero": (saved_model("0"), Layout.TENSORFLOW, _rename_zero, _loads_in_tensorflow_serving),
}


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [posixpath.normpath(name) for name in tar.getnames()]


def _follow(message: str, data: bytes, root: Path, placeholders: dict[str, str]) -> list[tuple[bytes, Layout]]:
    """The archives the advice in ``message`` leads to, each with the layout to check it against."""
    results = [(data, Layout(found[1])) for found in _RECHECK.finditer(message)]
    for found in _PACKAGE.finditer(message):
        folder, layout, output = placeholders.get(found[1], found[1]), found[2] or "flat", found[3]
        assert main(["package", str(root / folder), "--layout", layout, "-o", str(root / output)]) == 0
        results.append(((root / output).read_bytes(), Layout(layout)))
        (root / output).unlink()
    for found in _TAR.finditer(message):
        subprocess.run(["tar", "czf", found[1], "-C", found[2], "."], cwd=root, check=True)
        results.append(((root / found[1]).read_bytes(), Layout.FLAT))
        (root / found[1]).unlink()
    return results


@pytest.mark.parametrize("case", list(_CASES))
def test_following_the_advice_gives_a_loadable_archive(case: str, tmp_path: Path) -> None:
    entries, layout, do_as_told, container_loads = _CASES[case]
    data = tar_gz(entries)
    problems = check_archive(io.BytesIO(data), layout=layout).problems
    assert problems, "the case must be rejected to have advice to follow"
    for index, problem in enumerate(problems):
        root = extract(data, tmp_path / f"src{index}")
        placeholders = do_as_told(root)
        results = _follow(problem.message, data, root, placeholders)
        if not results:  # prose only ("move ... into model_b/1/"): the author then packages the folder
            results = _follow(f"modelctl package DIR --layout {layout.value} -o model.tar.gz", data, root, {"DIR": "."})
        for number, (result, result_layout) in enumerate(results):
            assert check_archive(io.BytesIO(result), layout=result_layout).problems == [], problem.message
            # Passing the check is not enough: the container that serves this model must find it.
            assert container_loads(result, tmp_path / f"loaded{index}-{number}"), problem.message
            if (root / "code").is_dir() and result_layout in (Layout.FLAT, Layout.TENSORFLOW):
                assert "code/inference.py" in _names(result), "code/ was lost"


# -- the deadline hook ------------------------------------------------------------------------------------


def test_should_stop_ends_the_check_with_a_time_problem() -> None:
    report = check_archive(io.BytesIO(good()), should_stop=lambda: True)
    assert [p.rule for p in report.problems] == ["time"]
    assert report.problems[0].message.startswith("not checked completely before the checker's deadline: ")
    assert report.entries == 0


def test_should_stop_is_polled_between_chunks_of_a_large_file() -> None:
    data = tar_gz([Entry("weights.bin", os.urandom(5 * 1024 * 1024))])
    polls = 0

    def after_three_polls() -> bool:
        nonlocal polls
        polls += 1
        return polls > 3

    report = check_archive(io.BytesIO(data), should_stop=after_three_polls)
    assert [p.rule for p in report.problems] == ["time"]
    assert 0 < report.uncompressed_bytes < 5 * 1024 * 1024  # it stopped inside the file


def test_should_stop_that_never_fires_changes_nothing() -> None:
    assert check_archive(io.BytesIO(good()), should_stop=lambda: False).valid


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("models/mme/Chicago_IL.zip", "key-suffix"),
        ("models/mme/Chicago IL.tar.gz", "key-characters"),
        ("models/mme/tab\tname.tar.gz", "key-characters"),
        ("models/mme/" + "x" * 1020 + ".tar.gz", "key-length"),
        ("models/other/Chicago_IL.tar.gz", "key-prefix"),
    ],
)
def test_key_rules(key: str, rule: str) -> None:
    assert rule in [p.rule for p in check_key(key, "models/mme/")]


def test_a_good_key() -> None:
    assert check_key("models/mme/team-a/Chicago_IL.tar.gz", "models/mme/") == []


def test_tag_values_are_safe() -> None:
    assert (
        tag_value("wrapped: every file is inside 'x/' (tar czf ...)")
        == "wrapped: every file is inside _x/_ _tar czf ..._"
    )
    assert len(tag_value("x" * 400)) == 256
