"""``modelctl loadtest``: bounded concurrent invocations of several models, with latency percentiles."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

#: Attempts per request, the first included: one retry rides out a dropped connection, while throttling or a
#: failing model shows in the results instead of being hidden by waits that inflate the latencies measured.
ATTEMPTS = 2
#: InvokeEndpoint answers within 60 seconds or fails (Amazon SageMaker Runtime API Reference, InvokeEndpoint):
#: reading longer would only wait for an error; botocore's default is 60 too, without the margin.
READ_TIMEOUT = 70
#: The error codes botocore's standard retry mode treats as throttling (botocore/retries/standard.py,
#: ThrottledRetryableChecker); a 429 with no error code counts too (ThrottlingStatusCodeChecker), but not
#: SageMaker's ModelNotReadyException (429 as well: a model still loading, counted as an error of its own).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)


def client_config(concurrency: int) -> Config:
    """The sagemaker-runtime client's settings for ``concurrency`` threads: a connection each (botocore keeps 10
    by default, and a thread without one waits, which the load test would count as latency), standard retries
    (with their client-side rate limiting of retries), ``ATTEMPTS`` in all."""
    return Config(
        max_pool_connections=max(concurrency, 10),
        retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        read_timeout=READ_TIMEOUT,
        connect_timeout=10,
    )


class Throttles:
    """Counts throttled responses of a client's InvokeEndpoint calls, retried ones included: register
    ``observe`` for ``needs-retry.sagemaker-runtime.InvokeEndpoint`` (it sees every attempt; it decides nothing)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def observe(self, response: Any = None, **_: Any) -> None:
        if response is None:
            return
        http, parsed = response
        code = (parsed or {}).get("Error", {}).get("Code", "")
        if code in THROTTLING_CODES or (not code and getattr(http, "status_code", 0) == 429):
            with self._lock:
                self.count += 1

    def attach(self, client: Any) -> None:
        """Observe ``client``'s InvokeEndpoint attempts."""
        client.meta.events.register("needs-retry.sagemaker-runtime.InvokeEndpoint", self.observe)


def error_kind(error: Exception) -> str:
    """How a failed request is counted: the AWS error code (ThrottlingException, ModelError...), else the type."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or type(error).__name__)
    return type(error).__name__


@dataclass
class ModelStats:
    """What one model's requests measured."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def percentile(self, p: int) -> float | None:
        """The p-th percentile latency in seconds (None without successful requests)."""
        if not self.latencies:
            return None
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]


@dataclass
class LoadTestResult:
    """Per model statistics and the run's wall time."""

    per_model: dict[str, ModelStats]
    wall_seconds: float
    stopped_by_time: bool
    throttled: int = 0
    """Throttled responses, those retried included (``Throttles``)."""

    def lines(self) -> list[str]:
        """A table: model, requests, errors, p50/p95/p99 ms, throughput."""
        rows = ["model                           requests  errors    p50 ms    p95 ms    p99 ms   req/s"]
        for model, stats in self.per_model.items():
            done = len(stats.latencies) + sum(stats.errors.values())
            ms = [stats.percentile(p) for p in (50, 95, 99)]
            cells = "".join(f"{v * 1000:10.1f}" if v is not None else "       n/a" for v in ms)
            rate = done / max(self.wall_seconds, 1e-9)
            rows.append(f"{model[:30]:<30} {done:9d} {sum(stats.errors.values()):7d}{cells} {rate:7.1f}")
            for kind, count in sorted(stats.errors.items()):
                rows.append(f"    {count} x {kind}")
        if self.throttled:
            rows.append(
                f"throttled: {self.throttled} response(s), retried ones included ({ATTEMPTS} attempts a request; "
                "requests still failing are counted above)"
            )
        if self.stopped_by_time:
            rows.append("stopped at the time limit before every request was sent")
        return rows


def run(
    invoke: Callable[[str], object],
    models: Sequence[str],
    *,
    requests: int,
    concurrency: int,
    time_limit: float,
    clock: Callable[[], float] = time.monotonic,
) -> LoadTestResult:
    """Send ``requests`` requests in all, round-robin over ``models``, ``concurrency`` at a time.

    Stops sending when ``time_limit`` seconds have passed; requests already sent finish.
    """
    if requests < 1 or concurrency < 1 or not models:
        raise ValueError("requests and concurrency must be at least 1, with at least one model")
    per_model = {model: ModelStats() for model in models}
    lock = threading.Lock()
    start = clock()
    stopped = threading.Event()

    def one(index: int) -> None:
        if clock() - start > time_limit:
            stopped.set()
            return
        model = models[index % len(models)]
        began = clock()
        try:
            invoke(model)
        except Exception as error:
            with lock:
                kind = error_kind(error)
                per_model[model].errors[kind] = per_model[model].errors.get(kind, 0) + 1
            return
        with lock:
            per_model[model].latencies.append(clock() - began)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(requests)))
    return LoadTestResult(per_model=per_model, wall_seconds=clock() - start, stopped_by_time=stopped.is_set())
