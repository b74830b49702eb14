"""How pytest-xdist shares the tests out: every test that uses the session's synthesis of the stages runs on the
first worker (the one that writes ``HOSTING_SYNTH_OUT``), so the stages are built and synthesized once per run;
every other test goes to whichever worker is free, one at a time, as xdist's ``load`` does.

xdist's own ``--dist loadgroup`` would do it with ``xdist_group`` marks, but it carries the group in the test's
node id, which pytest 9.2's structured node ids no longer let it change (pytest-xdist issue #1386): the marks are
silently ignored. Here the workers say which tests use the synthesis, in a file each (``SynthesisUsers``), and the
controller's scheduler (``SynthesisOnOneWorker``) reads them. The hooks at the end wire it in; tests/conftest.py
imports them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

#: The xdist scope of every test that uses the session's synthesis.
SYNTHESIS_SCOPE = "the session's synthesis of every stage"
#: The worker that runs them: the one that writes ``HOSTING_SYNTH_OUT`` (``conftest._writes_the_assembly``).
SYNTHESIS_WORKER = "gw0"
#: The fixture whose users are kept together (``stages`` depends on it, so its users are among them).
SYNTHESIS_FIXTURE = "synthesis"
#: The worker input that names the folder the workers write their lists into.
USERS_FOLDER_INPUT = "synthesis_users_folder"


class SynthesisUsers:
    """The node ids of the tests that use the synthesis, one JSON file per worker in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, worker: str, items: Iterable[Any]) -> None:
        """Called by each worker once it has collected (before it tells the controller it has)."""
        users = sorted(item.nodeid for item in items if SYNTHESIS_FIXTURE in getattr(item, "fixturenames", ()))
        partial = self.folder / f".{worker}.json"
        partial.write_text(json.dumps(users))
        partial.replace(self.folder / f"{worker}.json")  # whole or absent

    def read(self) -> frozenset[str]:
        """What every worker wrote (they collect the same tests; xdist aborts the run if they do not)."""
        return frozenset(nodeid for path in self.folder.glob("gw*.json") for nodeid in json.loads(path.read_text()))


class SynthesisOnOneWorker(LoadScopeScheduling):  # type: ignore[misc]  (xdist is untyped)
    """xdist's ``load``, but for one scope: the tests that use the synthesis, sent together to
    ``SYNTHESIS_WORKER`` as its first work (it synthesizes at session start under ``make test``)."""

    def __init__(self, config: Any, users: SynthesisUsers, log: Any = None) -> None:
        super().__init__(config, log)
        self._users = users
        self._user_ids: frozenset[str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._user_ids is None:  # first called once every worker has collected
            self._user_ids = self._users.read()
        return SYNTHESIS_SCOPE if nodeid in self._user_ids else nodeid

    def _assign_work_unit(self, node: Any) -> None:
        queue = self.workqueue
        if SYNTHESIS_SCOPE in queue and len(queue) > 1:
            if node.workerinput["workerid"] == SYNTHESIS_WORKER:
                queue.move_to_end(SYNTHESIS_SCOPE, last=False)
            elif next(iter(queue)) == SYNTHESIS_SCOPE:
                # Keep it for its worker: hand out the next unit, then put it back in front.
                unit = queue.pop(SYNTHESIS_SCOPE)
                super()._assign_work_unit(node)
                queue[SYNTHESIS_SCOPE] = unit
                queue.move_to_end(SYNTHESIS_SCOPE, last=False)
                return
        super()._assign_work_unit(node)


# -- the hooks ----------------------------------------------------------------------------------------------------

_controller_users: SynthesisUsers | None = None


def _users(config: pytest.Config) -> SynthesisUsers:
    """The controller's folder for the workers' lists (under pytest's temporary folder for this run)."""
    global _controller_users
    if _controller_users is None:
        folder = config._tmp_path_factory.mktemp("synthesis-users")  # type: ignore[attr-defined]
        _controller_users = SynthesisUsers(folder)
    return _controller_users


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """The controller tells each worker where to list the tests that use the synthesis."""
    node.workerinput[USERS_FOLDER_INPUT] = str(_users(node.config).folder)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A worker lists the tests that use the synthesis, before it reports its collection to the controller."""
    worker: dict[str, Any] | None = getattr(config, "workerinput", None)
    if worker is not None and USERS_FOLDER_INPUT in worker:
        SynthesisUsers(Path(worker[USERS_FOLDER_INPUT])).write(worker["workerid"], items)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> SynthesisOnOneWorker | None:
    """xdist's default distribution (``load``) gets this scheduler; an explicit ``--dist`` is left to xdist."""
    if config.getvalue("dist") != "load":
        return None
    return SynthesisOnOneWorker(config, _users(config), log)
