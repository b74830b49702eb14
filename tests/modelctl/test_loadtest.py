"""modelctl loadtest: bounded in count and time, per-model percentiles, errors counted by kind."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from modelctl.loadtest import ATTEMPTS, ModelStats, Throttles, client_config, error_kind, run


class Clock:
    """A clock that advances 10 ms per reading, whatever the threads do."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.now += 0.01
            return self.now


def test_requests_are_spread_round_robin_and_counted() -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def invoke(model: str) -> None:
        with lock:
            calls.append(model)

    result = run(invoke, ["A.tar.gz", "B.tar.gz"], requests=10, concurrency=3, time_limit=60, clock=Clock())
    assert sorted(calls) == ["A.tar.gz"] * 5 + ["B.tar.gz"] * 5
    assert [len(s.latencies) for s in result.per_model.values()] == [5, 5]
    assert not result.stopped_by_time


def test_errors_are_counted_by_kind() -> None:
    def invoke(model: str) -> None:
        if model == "B.tar.gz":
            raise TimeoutError("slow")

    result = run(invoke, ["A.tar.gz", "B.tar.gz"], requests=4, concurrency=1, time_limit=60, clock=Clock())
    assert result.per_model["B.tar.gz"].errors == {"TimeoutError": 2}
    table = "\n".join(result.lines())
    assert "    2 x TimeoutError" in table


def test_the_time_limit_stops_sending() -> None:
    result = run(lambda _: None, ["A.tar.gz"], requests=1000, concurrency=1, time_limit=0.5, clock=Clock())
    sent = len(result.per_model["A.tar.gz"].latencies)
    assert 0 < sent < 1000
    assert result.stopped_by_time
    assert result.lines()[-1] == "stopped at the time limit before every request was sent"


def test_percentiles() -> None:
    stats = ModelStats(latencies=[i / 1000 for i in range(1, 101)])
    assert stats.percentile(50) == pytest.approx(0.0505)
    assert stats.percentile(99) == pytest.approx(0.09901)
    assert ModelStats().percentile(50) is None
    assert ModelStats(latencies=[0.2]).percentile(95) == 0.2


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run(lambda _: None, ["A"], requests=0, concurrency=1, time_limit=1)


def test_the_client_keeps_a_connection_per_request_in_flight() -> None:
    assert client_config(4).max_pool_connections == 10  # botocore's default, never fewer
    assert client_config(64).max_pool_connections == 64
    config = client_config(64)
    assert config.retries == {"mode": "standard", "total_max_attempts": ATTEMPTS}
    assert ATTEMPTS == 2
    assert (config.read_timeout, config.connect_timeout) == (70, 10)


def _response(status: int, code: str | None) -> tuple[Any, dict[str, Any]]:
    parsed: dict[str, Any] = {"ResponseMetadata": {"HTTPStatusCode": status}}
    if code is not None:
        parsed["Error"] = {"Code": code, "Message": "m"}
    return SimpleNamespace(status_code=status), parsed


def test_throttled_responses_are_counted_and_nothing_else() -> None:
    throttles = Throttles()
    for response in (
        _response(400, "ThrottlingException"),
        _response(429, None),  # a 429 without a code: throttling too
        _response(503, "SlowDown"),
        _response(429, "ModelNotReadyException"),  # a model still loading: an error of its own
        _response(424, "ModelError"),
        _response(200, None),
    ):
        throttles.observe(response=response, attempts=1)
    throttles.observe(response=None, caught_exception=ConnectionError())
    assert throttles.count == 3


def test_failures_are_counted_by_their_aws_error_code() -> None:
    modeled = ClientError({"Error": {"Code": "ModelError", "Message": "boom"}}, "InvokeEndpoint")
    assert error_kind(modeled) == "ModelError"
    assert error_kind(ClientError({}, "InvokeEndpoint")) == "ClientError"
    assert error_kind(TimeoutError("slow")) == "TimeoutError"


def test_throttling_is_reported_under_the_table() -> None:
    result = run(lambda _: None, ["A.tar.gz"], requests=2, concurrency=1, time_limit=60, clock=Clock())
    assert not any("throttled" in line for line in result.lines())
    result.throttled = 5
    assert result.lines()[-1] == (
        "throttled: 5 response(s), retried ones included (2 attempts a request; requests still failing are counted above)"
    )


def test_throttling_codes_are_botocores() -> None:
    # The codes botocore's standard retry mode retries as throttling (ThrottledRetryableChecker): a copy, because
    # botocore's own detector would count SageMaker's ModelNotReadyException too; a botocore bump that changes the
    # list fails here.
    from botocore.retries.standard import ThrottledRetryableChecker

    from modelctl.loadtest import THROTTLING_CODES

    assert frozenset(ThrottledRetryableChecker._THROTTLED_ERROR_CODES) == THROTTLING_CODES
