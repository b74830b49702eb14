"""How pytest-xdist shares the tests out: every test that uses the session's synthesis of the stages runs on the
first worker (the one that writes ``HOSTING_SYNTH_OUT``), so the stages are built and synthesized once per run;
the tests of one ``xdist_group`` mark run on one worker, so that what they share (a module- or session-scoped
fixture: the wheel, the 200-endpoint stage) is built once too; every other test goes to whichever worker is free,
as a unit of its own (xdist's scope scheduling: a worker is sent more once it has at most two tests left).

xdist's own ``--dist loadgroup`` honours ``xdist_group`` marks by carrying the group in the test's node id, which
pytest 9.2's structured node ids no longer let it change (pytest-xdist issue #1386): the marks are silently
ignored. Here the workers write each test's group to a file of their own (``Groups``), and the controller's
scheduler (``GroupsOnOneWorker``) reads them. The hooks at the end wire it in; tests/conftest.py imports them.
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
#: The worker input that names the folder the workers write their groups into.
GROUPS_FOLDER_INPUT = "test_groups_folder"


def group_of(item: Any) -> str | None:
    """The scope ``item`` must share with others: the synthesis's, its ``xdist_group`` mark's, or none."""
    if SYNTHESIS_FIXTURE in getattr(item, "fixturenames", ()):
        return SYNTHESIS_SCOPE
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return None
    return f"xdist_group {mark.kwargs.get('name', mark.args[0] if mark.args else 'default')}"


class Groups:
    """Each grouped test's node id and group, one JSON file per worker in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, worker: str, items: Iterable[Any]) -> None:
        """Called by each worker once it has collected (before it tells the controller it has)."""
        groups = {item.nodeid: group for item in items if (group := group_of(item)) is not None}
        partial = self.folder / f".{worker}.json"
        partial.write_text(json.dumps(groups, sort_keys=True))
        partial.replace(self.folder / f"{worker}.json")  # whole or absent

    def read(self) -> dict[str, str]:
        """What the workers wrote (they collect the same tests; xdist aborts the run if they do not)."""
        groups: dict[str, str] = {}
        for path in sorted(self.folder.glob("gw*.json")):
            groups.update(json.loads(path.read_text()))
        return groups


class GroupsOnOneWorker(LoadScopeScheduling):  # type: ignore[misc]  (xdist is untyped)
    """xdist's ``load``, but each group is one unit of work, sent to one worker at once; the synthesis's goes to
    ``SYNTHESIS_WORKER`` as its first work (it synthesizes at session start under ``make test``)."""

    def __init__(self, config: Any, groups: Groups, log: Any = None) -> None:
        super().__init__(config, log)
        self._groups = groups
        self._group_of: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._group_of is None:  # first called once every worker has collected
            self._group_of = self._groups.read()
        return self._group_of.get(nodeid, nodeid)

    def schedule(self) -> None:
        if self.collection is None:
            # The first call shuts down the workers that have nothing to do, last come first: never the synthesis
            # worker, which would leave its tests to another worker that synthesizes the stages again.
            self.assigned_work = dict(
                sorted(self.assigned_work.items(), key=lambda item: _worker_id(item[0]) != SYNTHESIS_WORKER)
            )
        super().schedule()

    def remove_node(self, node: Any) -> str | None:
        """A worker is down (done, or crashed: xdist then starts another). xdist's scope scheduling would queue
        again every unit the worker was given, finished ones too: a finished unit sent again runs nothing, the
        worker never asks for more and the run waits forever. Queue only what is left to run, without the test
        that crashed (xdist reports it as failed; ``load`` does not run it again either)."""
        workload: dict[str, dict[str, bool]] = self.assigned_work.pop(node)
        left = [nodeid for unit in workload.values() for nodeid, done in unit.items() if not done]
        if not left:
            return None
        crashed = left[0]  # a worker runs its tests in the order it was sent them
        for scope, unit in workload.items():
            if crashed in unit:
                unit[crashed] = True
            if not all(unit.values()):
                self.workqueue[scope] = unit
        for other in self.assigned_work:
            self._reschedule(other)
        return crashed

    def _assign_work_unit(self, node: Any) -> None:
        queue = self.workqueue
        writer_up = any(_worker_id(n) == SYNTHESIS_WORKER and not n.shutting_down for n in self.nodes)
        if SYNTHESIS_SCOPE in queue and len(queue) > 1 and writer_up:
            if _worker_id(node) == SYNTHESIS_WORKER:
                queue.move_to_end(SYNTHESIS_SCOPE, last=False)
            elif next(iter(queue)) == SYNTHESIS_SCOPE:
                # Keep it for its worker: hand out the next unit, then put it back in front.
                unit = queue.pop(SYNTHESIS_SCOPE)
                super()._assign_work_unit(node)
                queue[SYNTHESIS_SCOPE] = unit
                queue.move_to_end(SYNTHESIS_SCOPE, last=False)
                return
        super()._assign_work_unit(node)


def _worker_id(node: Any) -> str:
    worker_id: str = node.workerinput["workerid"]
    return worker_id


# -- the hooks ----------------------------------------------------------------------------------------------------

_GROUPS = pytest.StashKey[Groups]()


def _groups(config: pytest.Config) -> Groups:
    """This run's folder for the workers' groups (under pytest's temporary folder for the run)."""
    if _GROUPS not in config.stash:
        config.stash[_GROUPS] = Groups(config._tmp_path_factory.mktemp("test-groups"))  # type: ignore[attr-defined]
    return config.stash[_GROUPS]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """The controller tells each worker where to write its groups."""
    node.workerinput[GROUPS_FOLDER_INPUT] = str(_groups(node.config).folder)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A worker writes its tests' groups, before it reports its collection to the controller."""
    worker: dict[str, Any] | None = getattr(config, "workerinput", None)
    if worker is not None and GROUPS_FOLDER_INPUT in worker:
        Groups(Path(worker[GROUPS_FOLDER_INPUT])).write(worker["workerid"], items)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> GroupsOnOneWorker | None:
    """xdist's default distribution (``load``) gets this scheduler; an explicit ``--dist`` is left to xdist."""
    if config.getvalue("dist") != "load":
        return None
    return GroupsOnOneWorker(config, _groups(config), log)
