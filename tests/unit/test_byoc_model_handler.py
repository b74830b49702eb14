"""The shipped Multi Model Server handler's logic, without Docker or MMS."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support import byoc_model_handler

handler = byoc_model_handler()


def _context(model_dir: Path) -> SimpleNamespace:
    return SimpleNamespace(system_properties={"model_dir": str(model_dir)})


def test_loads_the_model_and_predicts(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps({"weights": [2.0, -1.0], "bias": 0.5}))
    service = handler.ModelHandler()
    responses = service.handle([{"body": b'{"instances": [[1, 1], [3, 2]]}'}], _context(tmp_path))
    assert [json.loads(r) for r in responses] == [{"predictions": [1.5, 4.5]}]


def test_csv_body(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps({"weights": [1.0], "bias": 0}))
    assert handler.predict(handler.load_model(tmp_path), handler.parse_rows("1\n2\n")) == [1.0, 2.0]


def test_wrapping_folder_is_reported(tmp_path: Path) -> None:
    (tmp_path / "mymodel").mkdir()
    (tmp_path / "mymodel" / "model.json").write_text("{}")
    with pytest.raises(handler.ModelError, match=r"model.json not found at the archive root .* \['mymodel'\]"):
        handler.load_model(tmp_path)


def test_feature_count_mismatch(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps({"weights": [1.0, 2.0]}))
    with pytest.raises(handler.ModelError, match="row has 1 features, the model expects 2"):
        handler.predict(handler.load_model(tmp_path), [[1.0]])


# -- the per-request log line ------------------------------------------------------------------------------------


class _MmsContext:
    """What MMS hands ``handle``: the model directory, MMS's own model name and each request's headers."""

    def __init__(self, model_dir: Path, headers: list[dict[str, str]], model_name: str = "3f2a9c") -> None:
        self.system_properties = {"model_dir": str(model_dir)}
        self.model_name = model_name
        self._headers = headers

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        return self._headers[idx]


@pytest.fixture(autouse=True)
def container_log(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The container's stdout, as a file (outside the tests' model directories): no test writes to this machine's
    PID 1."""
    path = tmp_path_factory.mktemp("container") / "stdout"
    path.touch()
    monkeypatch.setattr(handler, "CONTAINER_STDOUT", str(path))
    return path


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_request_logs_one_json_line_naming_its_target_model(tmp_path: Path, container_log: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps({"weights": [1.0], "bias": 0}))
    context = _MmsContext(
        tmp_path,
        # SageMaker's header, as it may arrive in either case; MMS's model name (3f2a9c) is not the TargetModel.
        [{"X-Amzn-SageMaker-Target-Model": "paris/model.tar.gz"}, {"x-amzn-sagemaker-target-model": "lyon.tar.gz"}],
    )
    handler.ModelHandler().handle([{"body": b"[[1]]"}, {"body": b"[[2]]"}], context)
    lines = _lines(container_log)
    assert [line["target_model"] for line in lines] == ["paris/model.tar.gz", "lyon.tar.gz"]
    for line in lines:
        assert set(line) == {"event", "target_model", "latency_ms", "status"}
        assert (line["event"], line["status"]) == ("invocation", "ok")
        assert isinstance(line["latency_ms"], float)
        assert line["latency_ms"] >= 0


def test_a_failing_request_logs_status_error_and_the_error_class(tmp_path: Path, container_log: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps({"weights": [1.0, 2.0]}))
    context = _MmsContext(tmp_path, [{"X-Amzn-SageMaker-Target-Model": "paris.tar.gz"}])
    with pytest.raises(handler.ModelError):
        handler.ModelHandler().handle([{"body": b"[[1]]"}], context)
    [line] = _lines(container_log)
    assert line["status"] == "error"
    assert line["error"] == "ModelError"
    assert line["target_model"] == "paris.tar.gz"


def test_a_model_that_fails_to_load_logs_an_error(tmp_path: Path, container_log: Path) -> None:
    context = _MmsContext(tmp_path, [{"X-Amzn-SageMaker-Target-Model": "broken.tar.gz"}])
    with pytest.raises(handler.ModelError):
        handler.ModelHandler().handle([{"body": b"[[1]]"}], context)
    assert [(line["target_model"], line["error"]) for line in _lines(container_log)] == [
        ("broken.tar.gz", "ModelError")
    ]


def test_without_the_header_the_line_names_the_mms_model(tmp_path: Path, container_log: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps({"weights": [1.0], "bias": 0}))
    handler.ModelHandler().handle([{"body": b"[[1]]"}], _MmsContext(tmp_path, [{}], model_name="local"))
    assert [line["target_model"] for line in _lines(container_log)] == ["local"]


def test_the_line_falls_back_to_stdout_outside_a_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(handler, "CONTAINER_STDOUT", str(tmp_path / "missing" / "stdout"))
    line = handler.log_invocation("paris.tar.gz", 1.23456)
    assert capsys.readouterr().out == line
    assert json.loads(line) == {
        "event": "invocation",
        "target_model": "paris.tar.gz",
        "latency_ms": 1.235,
        "status": "ok",
    }
