"""Multi Model Server handler: one instance per loaded model.

MMS calls ``handle(data, context)``; the first call for a model initialises it from the directory SageMaker
extracted the model's archive into (``context.system_properties["model_dir"]``). The example model is a linear
model stored as ``model.json`` (``{"weights": [...], "bias": b}``) at the archive root; replace ``load_model``
and ``predict`` with your framework's.

Every request also writes one JSON line to the container's log, naming the model it targeted:
``{"event": "invocation", "target_model": "...", "latency_ms": 1.234, "status": "ok"}`` (``"status": "error"``
and ``"error": "<exception class>"`` when it failed). SageMaker publishes no per-model metric for multi-model
endpoints; constructs_lib/per_model_metrics.py turns these lines into per-model counts and latency.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

MODEL_FILE = "model.json"

#: The log line's fields and values. constructs_lib/per_model_metrics.py reads exactly these
#: (tests/unit/test_per_model_metrics.py fails when the two sides disagree).
EVENT, TARGET_MODEL, LATENCY_MS, STATUS, ERROR = "event", "target_model", "latency_ms", "status", "error"
INVOCATION, STATUS_OK, STATUS_ERROR = "invocation", "ok", "error"

#: SageMaker hands the container the request's TargetModel in this header; the model name MMS serves under is
#: "an opaque identifier and is not necessarily the value of the TargetModel parameter" (SageMaker Developer
#: Guide, "Custom Containers Contract for Multi-Model Endpoints"). Compared lowercased: MMS keeps header names as
#: they arrive.
TARGET_MODEL_HEADER = "x-amzn-sagemaker-target-model"

#: The container's own stdout (the entry point is PID 1), which SageMaker sends to CloudWatch Logs. Not this
#: process's stdout: MMS reads a worker's output and logs each line through log4j with a timestamp, level, thread
#: and logger name in front (multi-model-server's WorkerLifeCycle and log4j2.xml), and a line with that prefix is
#: no JSON log event for CloudWatch's JSON filters and Contributor Insights rules.
CONTAINER_STDOUT = "/proc/1/fd/1"


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
        started = time.perf_counter()
        try:
            if self.model is None:
                self.initialize(context)
            assert self.model is not None
            responses = []
            for request in data:
                body = request.get("body") or request.get("data") or b""
                responses.append(json.dumps({"predictions": predict(self.model, parse_rows(body))}))
        except Exception as error:
            _log_batch(len(data), context, started, error)
            raise
        _log_batch(len(data), context, started, None)
        return responses


def target_model(context: Any, index: int) -> str | None:
    """The TargetModel of request ``index`` of the batch; MMS's own model name when the header is missing (a
    container run outside SageMaker)."""
    try:
        headers = context.get_all_request_header(index) or {}
    except (AttributeError, IndexError, TypeError):
        headers = {}
    for key, value in headers.items():
        if str(key).lower() == TARGET_MODEL_HEADER:
            return str(value)
    name = getattr(context, "model_name", None)
    return None if name is None else str(name)


def log_invocation(model: str | None, latency_ms: float, error: BaseException | None = None) -> str:
    """Write one request's line to the container's log and return it."""
    record: dict[str, Any] = {
        EVENT: INVOCATION,
        TARGET_MODEL: model,
        LATENCY_MS: round(latency_ms, 3),
        STATUS: STATUS_OK if error is None else STATUS_ERROR,
    }
    if error is not None:
        record[ERROR] = type(error).__name__
    # ASCII only (json's default), on one line, well under PIPE_BUF: one write that no other writer can split.
    line = json.dumps(record, separators=(",", ":")) + "\n"
    try:
        descriptor = os.open(CONTAINER_STDOUT, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(descriptor, line.encode())
        finally:
            os.close(descriptor)
    except OSError:
        # Outside a container (or without /proc): this process's stdout, so that the line is not lost.
        sys.stdout.write(line)
        sys.stdout.flush()
    return line


def _log_batch(size: int, context: Any, started: float, error: BaseException | None) -> None:
    # MMS answers a batch together and fails all of it when the handler raises (mms/service.py, Service.predict):
    # every request of the batch gets the batch's time and outcome.
    latency_ms = (time.perf_counter() - started) * 1000
    for index in range(size):
        log_invocation(target_model(context, index), latency_ms, error)


_service = ModelHandler()


def handle(data: list[dict[str, Any]] | None, context: Any) -> list[str] | None:
    """MMS entry point; ``data`` is None on the warm-up call that only loads the model."""
    if data is None:
        _service.initialize(context)
        return None
    return _service.handle(data, context)
