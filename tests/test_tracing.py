"""Coverage's tracer is set aside in jsii's talk with Node and in moto's answers, and put back whenever our code
runs (tests/tracing.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import aws_cdk as cdk
import jsii
import pytest

from tests.support import Moto


def _under(tracer: Callable[..., Any], action: Callable[[], object]) -> Any:
    """Run ``action`` with ``tracer`` as the thread's tracer; the tracer in place when it returned."""
    before = sys.gettrace()
    sys.settrace(tracer)
    try:
        action()
        return sys.gettrace()
    finally:
        sys.settrace(before)


def _recording(seen: list[str]) -> Callable[..., None]:
    def tracer(frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call":
            seen.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")

    return tracer


def _stack_with_aspect(visit: Callable[[Any], None]) -> cdk.App:
    @jsii.implements(cdk.IAspect)
    class Aspect:
        def visit(self, node: Any) -> None:
            visit(node)

    app = cdk.App()
    cdk.Aspects.of(cdk.Stack(app, "Traced")).add(Aspect())
    return app


def test_moto_answers_run_untraced_and_the_tracer_is_put_back(moto: Moto) -> None:
    seen: list[str] = []
    tracer = _recording(seen)
    s3 = moto.client("s3")
    assert _under(tracer, s3.list_buckets) is tracer
    assert any("/botocore/" in name for name in seen)  # the client's side is traced
    # moto's answer (its S3 emulation) is not; botocore reads the answer's body afterwards, from the stubber's file.
    moto_files = {name.rsplit("/moto/", 1)[1].split(":")[0] for name in seen if "/moto/" in name}
    assert moto_files <= {"core/botocore_stubber.py"}


def test_jsii_calls_run_untraced_and_node_s_calls_into_python_traced() -> None:
    visited: list[str] = []
    app = _stack_with_aspect(lambda node: visited.append(node.node.path))
    seen: list[str] = []
    tracer = _recording(seen)
    assert _under(tracer, app.synth) is tracer
    assert visited == ["Traced"]
    assert any(name.endswith(":visit") for name in seen)  # Node's call into our code is traced
    assert not any("/jsii/_kernel/providers/" in name for name in seen)  # the talk with Node is not


def test_the_tracer_is_put_back_when_a_jsii_call_raises() -> None:
    stack = cdk.Stack()
    tracer = _recording([])

    def find_missing() -> None:
        with pytest.raises(RuntimeError, match="No child with id"):
            stack.node.find_child("missing")

    assert _under(tracer, find_missing) is tracer


@pytest.mark.usefixtures("moto")
def test_the_tracer_is_put_back_when_moto_s_answer_raises() -> None:
    from moto.core.models import botocore_stubber

    tracer = _recording([])

    def broken_request() -> None:
        with pytest.raises(AttributeError):
            botocore_stubber("before-send.s3.ListBuckets", request=None)

    assert _under(tracer, broken_request) is tracer


def test_a_tracer_set_in_a_callback_stays_once_the_jsii_call_returns() -> None:
    """``breakpoint()`` in an aspect, under coverage: the debugger is not lost when the synthesis returns."""

    def debugger(*_: Any) -> None:
        return None

    app = _stack_with_aspect(lambda _node: sys.settrace(debugger))
    assert _under(lambda *_: None, app.synth) is debugger
