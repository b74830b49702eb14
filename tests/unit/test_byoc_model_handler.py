"""The shipped Multi Model Server handler's logic, without Docker or MMS."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from tests.support import ROOT


def _handler_module() -> ModuleType:
    path = ROOT / "images" / "multi-model-server" / "model_handler.py"
    spec = importlib.util.spec_from_file_location("byoc_model_handler", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


handler = _handler_module()


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
