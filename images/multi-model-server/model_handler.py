"""Multi Model Server handler: one instance per loaded model.

MMS calls ``handle(data, context)``; the first call for a model initialises it from the directory SageMaker
extracted the model's archive into (``context.system_properties["model_dir"]``). The example model is a linear
model stored as ``model.json`` (``{"weights": [...], "bias": b}``) at the archive root; replace ``load_model``
and ``predict`` with your framework's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MODEL_FILE = "model.json"


class ModelError(Exception):
    """A request or model file the handler cannot use; MMS answers it with an error status."""


def load_model(model_dir: Path) -> dict[str, Any]:
    """Read ``model.json`` from the archive root (files are at the root: no wrapping folder)."""
    path = model_dir / MODEL_FILE
    if not path.is_file():
        found = sorted(p.name for p in model_dir.iterdir()) if model_dir.is_dir() else []
        raise ModelError(f"{MODEL_FILE} not found at the archive root {model_dir} (found: {found})")
    model: dict[str, Any] = json.loads(path.read_text())
    if not isinstance(model.get("weights"), list) or not isinstance(model.get("bias", 0), int | float):
        raise ModelError(f"{MODEL_FILE} must hold a list 'weights' and a number 'bias'")
    return model


def predict(model: dict[str, Any], rows: list[list[float]]) -> list[float]:
    """One prediction per row: weights . row + bias."""
    weights = model["weights"]
    predictions = []
    for row in rows:
        if len(row) != len(weights):
            raise ModelError(f"row has {len(row)} features, the model expects {len(weights)}")
        predictions.append(sum(w * x for w, x in zip(weights, row, strict=True)) + model.get("bias", 0))
    return predictions


def parse_rows(body: bytes | str) -> list[list[float]]:
    """Rows from a JSON body (``{"instances": [[...], ...]}`` or ``[[...], ...]``) or CSV lines."""
    text = body.decode() if isinstance(body, bytes) else body
    text = text.strip()
    if text.startswith(("{", "[")):
        document = json.loads(text)
        rows = document["instances"] if isinstance(document, dict) else document
        return [[float(x) for x in row] for row in rows]
    return [[float(x) for x in line.split(",")] for line in text.splitlines() if line.strip()]


class ModelHandler:
    """The state MMS keeps per loaded model."""

    def __init__(self) -> None:
        self.model: dict[str, Any] | None = None

    def initialize(self, context: Any) -> None:
        self.model = load_model(Path(context.system_properties["model_dir"]))

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[str]:
        if self.model is None:
            self.initialize(context)
        assert self.model is not None
        responses = []
        for request in data:
            body = request.get("body") or request.get("data") or b""
            responses.append(json.dumps({"predictions": predict(self.model, parse_rows(body))}))
        return responses


_service = ModelHandler()


def handle(data: list[dict[str, Any]] | None, context: Any) -> list[str] | None:
    """MMS entry point; ``data`` is None on the warm-up call that only loads the model."""
    if data is None:
        _service.initialize(context)
        return None
    return _service.handle(data, context)
