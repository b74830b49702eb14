"""Coverage's tracer is set aside in jsii's talk with Node and in AWS calls (botocore and moto), and put back whenever our code
runs (tests/tracing.py)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import aws_cdk as cdk
import jsii
import pytest

from tests.support import ROOT, Moto, cfn_lint


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
    stack = cdk.Stack(app, "Traced")
    cdk.CfnWaitConditionHandle(stack, "Nothing")  # a valid template: no validator warning printed by Node
    cdk.Aspects.of(stack).add(Aspect())
    return app


def test_aws_calls_run_untraced_and_the_tracer_is_put_back(moto: Moto) -> None:
    seen: list[str] = []
    tracer = _recording(seen)
    moto.client("sts")  # boto3's default session, made once
    assert _under(tracer, lambda: moto.client("s3")) is tracer
    # Creating a client (loading its service model, building its class) is not traced, only what hands it over.
    assert not any(f"/botocore/{module}" in name for name in seen for module in ("loaders.py", "model.py", "client.py"))
    seen.clear()
    client = moto.client("s3")
    assert _under(tracer, client.list_buckets) is tracer
    # Of the call, only the client's operation method that calls _make_api_call; moto's answer is not traced.
    assert {name.rsplit("/site-packages/", 1)[-1] for name in seen if not name.startswith(str(ROOT / "tests"))} == {
        "botocore/client.py:_api_call"
    }


def test_our_event_handlers_run_traced_and_can_be_unregistered(moto: Moto) -> None:
    s3 = moto.client("s3")
    called: list[str] = []

    def handler(**kwargs: Any) -> None:
        called.append(kwargs["event_name"])

    s3.meta.events.register("before-call.s3.ListBuckets", handler)
    seen: list[str] = []
    assert _under(_recording(seen), s3.list_buckets) is not None
    assert called == ["before-call.s3.ListBuckets"]
    assert any(name.endswith(":handler") for name in seen)
    assert {name.rsplit("/site-packages/", 1)[1] for name in seen if "/botocore/" in name} == {
        "botocore/client.py:_api_call"
    }
    s3.meta.events.unregister("before-call.s3.ListBuckets", handler)
    s3.list_buckets()
    assert called == ["before-call.s3.ListBuckets"]


def test_each_thread_gets_its_own_tracer_back(moto: Moto) -> None:
    """boto3's transfer threads call AWS beside the test's thread: a call that ends in one thread while another's
    is in progress puts back its own thread's tracer, not the other's."""
    thread_inside, main_inside, thread_done = threading.Event(), threading.Event(), threading.Event()
    threads_tracer, main_tracer = _recording([]), _recording([])
    after: list[Any] = []

    def wait_for_main(**_: Any) -> None:
        thread_inside.set()
        assert main_inside.wait(10)

    def let_the_thread_finish(**_: Any) -> None:
        main_inside.set()
        assert thread_done.wait(10)

    def in_thread() -> None:
        after.append(_under(threads_tracer, client_of(wait_for_main).list_buckets))
        thread_done.set()

    def client_of(handler: Callable[..., None]) -> Any:
        client = moto.client("s3")
        client.meta.events.register("before-call.s3.ListBuckets", handler)
        return client

    main_client = client_of(let_the_thread_finish)
    thread = threading.Thread(target=in_thread)
    thread.start()
    assert thread_inside.wait(10)  # the thread's call began first, and ends first
    assert _under(main_tracer, main_client.list_buckets) is main_tracer
    thread.join(10)
    assert after == [threads_tracer]


@pytest.mark.parametrize("size", [1024, 9 * 1024 * 1024], ids=["small", "multipart"])
def test_an_upload_s_progress_callbacks_run_traced(moto: Moto, tmp_path: Path, size: int) -> None:
    """A small upload reports its progress once, when the file is closed, after the call; a multipart one (over
    boto3's 8 MiB threshold) as botocore reads each part's body, within the calls: traced either way."""
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="models", CreateBucketConfiguration={"LocationConstraint": Moto.region})
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"x" * size)
    sent: list[int] = []

    def progress(size: int) -> None:
        sent.append(size)

    seen: list[str] = []
    tracer = _recording(seen)
    threading.settrace(tracer)  # as coverage does: boto3's transfer threads trace too
    try:
        _under(tracer, lambda: s3.upload_file(str(archive), "models", "model.tar.gz", Callback=progress))
    finally:
        threading.settrace(None)  # type: ignore[arg-type]
    assert sum(sent) == size
    assert (len(sent) == 1) is (size == 1024)
    assert sum(name.endswith(":progress") for name in seen) == len(sent)


def test_our_handlers_are_held_to_botocore_s_signature_check(moto: Moto) -> None:
    """botocore refuses a handler that does not take **kwargs; the wrapper that traces ours must not hide it."""

    def handler(params: Any) -> None:  # noqa: ARG001  (no **kwargs: what botocore refuses)
        return None

    with pytest.raises(ValueError, match="must accept keyword arguments"):
        moto.client("s3").meta.events.register("before-call.s3.ListBuckets", handler)


def test_a_callback_called_by_a_callback_leaves_the_tracer_on() -> None:
    """Our code, called back within an untraced call, calls more of our callbacks itself: traced throughout, and
    the tracer put back afterwards."""
    from tests import tracing

    inside: list[Any] = []
    inner = tracing._traced_callback(lambda: None)

    def outer() -> None:
        inner()
        inside.append(sys.gettrace())

    tracer = _recording([])
    assert _under(tracer, tracing.untraced(tracing._traced_callback(outer))) is tracer
    assert inside == [tracer]


def test_jsii_calls_run_untraced_and_node_s_calls_into_python_traced() -> None:
    visited: list[str] = []
    app = _stack_with_aspect(lambda node: visited.append(node.node.path))
    seen: list[str] = []
    tracer = _recording(seen)
    assert _under(tracer, app.synth) is tracer
    assert visited == ["Traced", "Traced/Nothing"]
    assert any(name.endswith(":visit") for name in seen)  # Node's call into our code is traced
    assert not any("/jsii/_kernel/providers/" in name for name in seen)  # the talk with Node is not


def test_the_bindings_type_checks_run_untraced_and_still_check() -> None:
    app = cdk.App()
    seen: list[str] = []
    tracer = _recording(seen)
    assert _under(tracer, lambda: cdk.Stack(app, "Checked", description="typeguard checks this str")) is tracer
    assert any("/aws_cdk/" in name for name in seen)  # the binding itself is traced, as before
    assert not any("/typeguard/" in name for name in seen)  # its argument checks are not

    def wrong_type() -> None:
        with pytest.raises(TypeError, match="description"):
            cdk.Stack(app, "Unchecked", description=42)  # type: ignore[arg-type]

    assert _under(tracer, wrong_type) is tracer


def test_cfn_lint_runs_untraced() -> None:
    seen: list[str] = []
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"Colour": "red"}}}}
    cfn_lint({"Resources": {}})  # cfn-lint imported (its modules' own code runs once, traced)
    assert _under(_recording(seen), lambda: seen.extend(cfn_lint(template))) is not None
    assert any(finding.startswith("E3002") for finding in seen)  # it still lints
    assert not any("/cfnlint/" in name for name in seen)


def test_the_tracer_is_put_back_when_a_jsii_call_raises() -> None:
    stack = cdk.Stack()
    tracer = _recording([])

    def find_missing() -> None:
        with pytest.raises(RuntimeError, match="No child with id"):
            stack.node.find_child("missing")

    assert _under(tracer, find_missing) is tracer


def test_the_tracer_is_put_back_when_an_aws_call_raises(moto: Moto) -> None:
    from botocore.exceptions import ClientError

    s3 = moto.client("s3")
    tracer = _recording([])

    def missing_bucket() -> None:
        with pytest.raises(ClientError, match="HeadBucket operation: Not Found"):
            s3.head_bucket(Bucket="missing")

    assert _under(tracer, missing_bucket) is tracer


def test_a_tracer_set_in_a_callback_stays_once_the_jsii_call_returns() -> None:
    """``breakpoint()`` in an aspect, under coverage: the debugger is not lost when the synthesis returns."""

    def debugger(*_: Any) -> None:
        return None

    app = _stack_with_aspect(lambda _node: sys.settrace(debugger))
    assert _under(lambda *_: None, app.synth) is debugger
