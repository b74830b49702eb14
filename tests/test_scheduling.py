"""pytest-xdist runs every test that uses the session's synthesis on the worker that writes it: the stages are
synthesized once per run (tests/scheduling.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.scheduling import SYNTHESIS_SCOPE, SYNTHESIS_WORKER, SynthesisOnOneWorker, SynthesisUsers
from tests.support import ROOT


class _Worker:
    """What the scheduler sees of an xdist worker: its id, the tests it is sent, and a shutdown."""

    def __init__(self, workerid: str) -> None:
        self.workerinput = {"workerid": workerid}
        self.gateway = SimpleNamespace(id=workerid)
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def _scheduler(tmp_path: Path, users: list[str], collection: list[str], workers: list[_Worker]) -> Any:
    folder = tmp_path / "users"
    folder.mkdir()
    SynthesisUsers(folder).write("gw1", [SimpleNamespace(nodeid=n, fixturenames=["synthesis"]) for n in users])
    config = SimpleNamespace(getvalue=lambda name: {"tx": [f"{len(workers)}*popen"]}[name])
    config.option = SimpleNamespace(loadscopereorder=False)
    scheduler = SynthesisOnOneWorker(config, SynthesisUsers(folder))
    for worker in workers:  # in the order they came up: the first to ask is not always gw0
        scheduler.add_node(worker)
    for worker in workers:
        scheduler.add_node_collection(worker, collection)
    scheduler.schedule()
    return scheduler


def test_the_synthesis_users_go_to_their_worker_together_even_when_another_asks_first(tmp_path: Path) -> None:
    collection = [f"tests/unit/test_a.py::test_{i}" for i in range(20)]
    users = [collection[0], collection[7], collection[19]]
    first, writer = _Worker("gw1"), _Worker(SYNTHESIS_WORKER)
    scheduler = _scheduler(tmp_path, users, collection, [first, writer])
    assert [collection[i] for i in writer.sent[:3]] == users  # its first work, all of it at once
    assert not {collection[i] for i in first.sent} & set(users)
    assert first.sent  # the rest is shared out one test at a time, as xdist's load does
    assert SYNTHESIS_SCOPE not in scheduler.workqueue
    assert all(len(unit) == 1 for unit in scheduler.workqueue.values())


def test_without_users_it_is_xdist_load(tmp_path: Path) -> None:
    collection = [f"tests/unit/test_a.py::test_{i}" for i in range(6)]
    gw0, gw1 = _Worker("gw0"), _Worker("gw1")
    scheduler = _scheduler(tmp_path, [], collection, [gw0, gw1])
    assert len(gw0.sent) + len(gw1.sent) + len(scheduler.workqueue) == 6
    assert gw0.sent
    assert gw1.sent


def test_a_worker_lists_the_tests_that_use_the_synthesis_directly_or_through_stages(tmp_path: Path) -> None:
    items = [
        SimpleNamespace(nodeid="a::uses", fixturenames=["request", "synthesis"]),
        SimpleNamespace(nodeid="a::through_stages", fixturenames=["stages", "synthesis"]),
        SimpleNamespace(nodeid="a::other", fixturenames=["tmp_path"]),
        SimpleNamespace(nodeid="a::doctest"),  # no fixturenames
    ]
    SynthesisUsers(tmp_path).write("gw3", items)
    assert SynthesisUsers(tmp_path).read() == {"a::uses", "a::through_stages"}
    assert [path.name for path in tmp_path.iterdir()] == ["gw3.json"]


def test_a_real_xdist_run_keeps_them_on_the_writing_worker(tmp_path: Path) -> None:
    """Two real workers, this project's hooks, a cheap ``synthesis`` fixture: which worker ran what."""
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from tests.scheduling import (  # noqa: F401
                pytest_collection_modifyitems, pytest_configure_node, pytest_xdist_make_scheduler,
            )

            @pytest.fixture(scope="session")
            def synthesis():
                return "built once"

            @pytest.fixture(scope="session")
            def stages(synthesis):
                return [synthesis]
            """
        )
    )
    for module in ("test_one", "test_two"):
        (tmp_path / f"{module}.py").write_text(
            textwrap.dedent(
                """
                import time, pytest

                @pytest.mark.parametrize("n", range(4))
                def test_other(n):
                    time.sleep(0.05)

                def test_synthesis(synthesis):
                    time.sleep(0.05)

                def test_stages(stages):
                    pass
                """
            )
        )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-v", "-p", "no:cacheprovider", "-p", "no:cov"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    passed = re.findall(r"^\[(gw\d)\] \[ *\d+%\] PASSED (\S+)", result.stdout, re.M)
    ran = {test: worker for worker, test in passed}
    assert len(ran) == 12, result.stdout
    users = {test: worker for test, worker in ran.items() if test.endswith(("::test_synthesis", "::test_stages"))}
    assert set(users.values()) == {SYNTHESIS_WORKER}, users
    assert set(ran.values()) == {"gw0", "gw1"}, ran
