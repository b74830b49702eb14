"""pytest-xdist runs every test that uses the session's synthesis on the worker that writes it, and the tests of
one ``xdist_group`` on one worker: what they share is built once per run (tests/scheduling.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.scheduling import SYNTHESIS_SCOPE, SYNTHESIS_WORKER, Groups, GroupsOnOneWorker
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


def _item(nodeid: str, *fixtures: str, group: str | None = None) -> Any:
    marks = {"xdist_group": pytest.mark.xdist_group(group).mark} if group else {}
    return SimpleNamespace(nodeid=nodeid, fixturenames=list(fixtures), get_closest_marker=marks.get)


def _scheduler(tmp_path: Path, items: list[Any], workers: list[_Worker]) -> Any:
    folder = tmp_path / "groups"
    folder.mkdir()
    Groups(folder).write("gw1", items)
    config = SimpleNamespace(getvalue=lambda name: {"tx": [f"{len(workers)}*popen"]}[name])
    config.option = SimpleNamespace(loadscopereorder=False)
    scheduler = GroupsOnOneWorker(config, Groups(folder))
    for worker in workers:  # in the order they came up: the first to ask is not always gw0
        scheduler.add_node(worker)
    for worker in workers:
        scheduler.add_node_collection(worker, [item.nodeid for item in items])
    scheduler.schedule()
    return scheduler


def test_the_synthesis_users_go_to_their_worker_together_even_when_another_asks_first(tmp_path: Path) -> None:
    # Not first in the queue either: the synthesis worker takes them before anything else.
    items = [_item(f"tests/unit/test_a.py::test_{i}", *(["synthesis"] if i in (3, 7, 19) else [])) for i in range(20)]
    first, writer = _Worker("gw1"), _Worker(SYNTHESIS_WORKER)
    scheduler = _scheduler(tmp_path, items, [first, writer])
    users = [items[i].nodeid for i in (3, 7, 19)]
    assert [items[i].nodeid for i in writer.sent[:3]] == users  # its first work, all of it at once
    assert not {items[i].nodeid for i in first.sent} & set(users)
    assert first.sent  # the rest is shared out one test at a time, as xdist's load does
    assert SYNTHESIS_SCOPE not in scheduler.workqueue
    assert all(len(unit) == 1 for unit in scheduler.workqueue.values())


def test_without_the_synthesis_worker_the_synthesis_users_are_not_held_back(tmp_path: Path) -> None:
    # gw0 crashed before anything was handed out; its replacement is gw2.
    items = [_item(f"t.py::test_{i}", *(["synthesis"] if i < 3 else [])) for i in range(20)]
    gw1, gw2 = _Worker("gw1"), _Worker("gw2")
    _scheduler(tmp_path, items, [gw1, gw2])
    assert gw1.sent[:3] == [0, 1, 2]


def test_the_synthesis_worker_is_never_shut_down_as_one_too_many(tmp_path: Path) -> None:
    # Two workers, one unit of work (only the synthesis's tests selected); gw0 reported ready last.
    items = [_item(f"t.py::test_{i}", "synthesis") for i in range(3)]
    other, writer = _Worker("gw1"), _Worker(SYNTHESIS_WORKER)
    _scheduler(tmp_path, items, [other, writer])
    assert other.shutting_down
    assert writer.sent == [0, 1, 2]


def test_a_crashed_worker_s_unfinished_tests_are_queued_again_without_the_one_that_crashed(tmp_path: Path) -> None:
    items = [_item(f"t.py::test_{i}") for i in range(12)]
    gw0, gw1 = _Worker("gw0"), _Worker("gw1")
    scheduler = _scheduler(tmp_path, items, [gw0, gw1])
    scheduler.mark_test_complete(gw1, gw1.sent[0])  # finished (and gw1 is sent more); then gw1 crashes
    _finished, second, *rest = gw1.sent
    queued = {nodeid for unit in scheduler.workqueue.values() for nodeid in unit}
    assert scheduler.remove_node(gw1) == items[second].nodeid
    requeued = {nodeid for unit in scheduler.workqueue.values() for nodeid in unit} - queued
    assert requeued == {items[i].nodeid for i in rest}  # neither the finished test nor the crashed one
    assert all(not done for unit in scheduler.workqueue.values() for done in unit.values())


def test_an_xdist_group_is_one_unit_of_work(tmp_path: Path) -> None:
    items = [_item(f"t.py::test_{i}", group="wheel" if i % 3 == 0 else None) for i in range(9)]
    scheduler = _scheduler(tmp_path, items, [_Worker("gw0"), _Worker("gw1")])
    units = [*scheduler.assigned_work.values()]
    scopes = {scope: set(unit) for worker in units for scope, unit in worker.items()} | {
        scope: set(unit) for scope, unit in scheduler.workqueue.items()
    }
    assert scopes["xdist_group wheel"] == {"t.py::test_0", "t.py::test_3", "t.py::test_6"}
    assert len(scopes) == 7  # the group and six tests of their own


def test_without_groups_it_is_xdist_load(tmp_path: Path) -> None:
    gw0, gw1 = _Worker("gw0"), _Worker("gw1")
    scheduler = _scheduler(tmp_path, [_item(f"t.py::test_{i}") for i in range(6)], [gw0, gw1])
    assert len(gw0.sent) + len(gw1.sent) + len(scheduler.workqueue) == 6
    assert gw0.sent
    assert gw1.sent


def test_a_worker_writes_the_synthesis_users_and_the_marked_tests(tmp_path: Path) -> None:
    items = [
        _item("a::uses", "request", "synthesis"),
        _item("a::through_stages", "stages", "synthesis", group="ignored: the synthesis comes first"),
        _item("a::marked", "tmp_path", group="wheel"),
        _item("a::other", "tmp_path"),
        SimpleNamespace(nodeid="a::doctest", get_closest_marker=lambda _: None),  # no fixturenames
    ]
    Groups(tmp_path).write("gw3", items)
    assert Groups(tmp_path).read() == {
        "a::uses": SYNTHESIS_SCOPE,
        "a::through_stages": SYNTHESIS_SCOPE,
        "a::marked": "xdist_group wheel",
    }
    assert [path.name for path in tmp_path.iterdir()] == ["gw3.json"]


def _run_two_workers(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-v", "-p", "no:cacheprovider", "-p", "no:cov"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,  # a run that waits forever fails here
    )


_HOOKS = """
import pytest
from tests.scheduling import (  # noqa: F401
    pytest_collection_modifyitems, pytest_configure_node, pytest_xdist_make_scheduler,
)
"""


def test_a_real_run_goes_on_after_a_worker_crashes(tmp_path: Path) -> None:
    """xdist starts another worker; the run ends, the crashed test failed, no other test lost or run twice."""
    (tmp_path / "conftest.py").write_text(_HOOKS)
    (tmp_path / "test_crash.py").write_text(
        textwrap.dedent(
            f"""
            import os, pathlib, pytest

            @pytest.mark.parametrize("n", range(12))
            def test_quick(n):
                pass

            def test_crash():
                marker = pathlib.Path({str(tmp_path / "crashed")!r})
                if not marker.exists():
                    marker.touch()
                    os._exit(1)
            """
        )
    )
    result = _run_two_workers(tmp_path)
    assert "replacing crashed worker" in result.stdout, result.stdout
    outcomes = re.findall(r"^\[gw\d\] \[ *\d+%\] (PASSED|FAILED) (\S+)", result.stdout, re.M)
    assert sorted(test for _, test in outcomes) == sorted(
        [*(f"test_crash.py::test_quick[{n}]" for n in range(12)), "test_crash.py::test_crash"]
    ), result.stdout
    assert ("FAILED", "test_crash.py::test_crash") in outcomes
    assert result.returncode == 1


def test_a_real_xdist_run_keeps_each_group_on_one_worker(tmp_path: Path) -> None:
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

                @pytest.mark.xdist_group("shared")
                @pytest.mark.parametrize("n", range(2))
                def test_grouped(n):
                    time.sleep(0.05)
                """
            )
        )
    result = _run_two_workers(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = re.findall(r"^\[(gw\d)\] \[ *\d+%\] PASSED (\S+)", result.stdout, re.M)
    ran = {test: worker for worker, test in passed}
    assert len(ran) == 16, result.stdout
    users = {test: worker for test, worker in ran.items() if test.endswith(("::test_synthesis", "::test_stages"))}
    assert set(users.values()) == {SYNTHESIS_WORKER}, users
    assert len({worker for test, worker in ran.items() if "::test_grouped" in test}) == 1, ran
    assert set(ran.values()) == {"gw0", "gw1"}, ran
