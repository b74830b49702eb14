"""Endpoint kinds are a protocol: no module switches on a kind with isinstance outside the kind's own module.

Adding a kind is its own module (and a registration in the configuration, if stages build it): alarms,
dashboard, smoke test and scaling ask the endpoint (``constructs_lib.hosted_endpoint``), never test its class.
"""

from __future__ import annotations

import ast
from pathlib import Path

from constructs_lib import MultiContainerEndpoint, MultiModelEndpoint, ServerlessEndpoint
from constructs_lib.hosted_endpoint import HostedEndpoint, ScalableEndpoint

ROOT = Path(__file__).resolve().parents[2]
#: Each kind's classes, by the module that owns them.
KINDS = {
    "multi_model_endpoint.py": {"MultiModelEndpoint", "MultiModelEndpointBase"},
    "multi_container_endpoint.py": {"MultiContainerEndpoint", "MultiContainerEndpointBase", "InferenceMode"},
    "serverless_endpoint.py": {"ServerlessEndpoint"},
}


def _kind_switches(path: Path) -> list[str]:
    """``isinstance(x, Kind)`` and ``x.mode is InferenceMode...`` on a kind owned by another module."""
    own = KINDS.get(path.name, set())
    foreign = set().union(*KINDS.values()) - own
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: set[str] = set()
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance":
            names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Compare):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        hits = names & foreign
        if hits:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {', '.join(sorted(hits))}")
    return found


def test_no_module_switches_on_an_endpoint_kind_it_does_not_own() -> None:
    modules = [*(ROOT / "constructs_lib").glob("*.py"), *(ROOT / "stacks").glob("*.py")]
    assert len(modules) > 20
    assert [hit for path in sorted(modules) for hit in _kind_switches(path)] == []


def test_the_check_sees_a_switch() -> None:
    """The walker above would catch the switch it forbids (so the empty list above means something)."""
    sample = ROOT / "constructs_lib" / "endpoint_alarms.py"
    tree_text = (
        "if isinstance(endpoint, MultiModelEndpoint):\n    pass\nif endpoint.mode is InferenceMode.DIRECT:\n    pass\n"
    )
    probe = sample.with_name("probe_for_test.py")
    probe.write_text(tree_text)
    try:
        assert len(_kind_switches(probe)) == 2
    finally:
        probe.unlink()


def test_every_shipped_kind_satisfies_the_protocol() -> None:
    """Structural: each kind has what alarms, dashboard and smoke test call (mypy checks the signatures where
    stacks pass them)."""
    for kind in (MultiModelEndpoint, MultiContainerEndpoint, ServerlessEndpoint):
        for member in ("kind", "alarm_specs", "dashboard_rows", "check_smoke_invocation", "grant_smoke_invocations"):
            assert hasattr(kind, member), f"{kind.__name__} lacks {member}"
    assert HostedEndpoint is not ScalableEndpoint
