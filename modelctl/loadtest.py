"""``modelctl loadtest``: bounded concurrent invocations of several models, with latency percentiles."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


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
                kind = type(error).__name__
                per_model[model].errors[kind] = per_model[model].errors.get(kind, 0) + 1
            return
        with lock:
            per_model[model].latencies.append(clock() - began)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(requests)))
    return LoadTestResult(per_model=per_model, wall_seconds=clock() - start, stopped_by_time=stopped.is_set())
