"""Coverage measures our code, not the libraries the tests drive: where a library does heavy work in the test's
own thread and calls none of our code, it runs with the thread's tracer set aside.

Under ``make test`` coverage traces with ``sys.settrace`` (Python 3.11 has no ``sys.monitoring``): every Python
frame of the process pays for it, ours or not. Two kinds of call do most of the tests' work outside our code:

- jsii, which checks the arguments of every call into the CDK's Node process (typeguard), and marshals the call
  and its answer. When Node calls back into Python (a Python object that implements a CDK interface: a lazy
  value, an aspect, a validation), that callback runs with the tracer put back, so our code is measured as
  before.
- botocore and moto, which make and answer each AWS call in the calling thread (``aws_calls_untraced``): the
  client serializes, signs and parses, moto emulates the service. Our own event handlers and an upload's progress
  callbacks run traced.

cfn-lint, run in the test's process by some tests, is set aside the same way (``untraced``).

A debugger's tracer is set aside the same way, within those calls only.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: jsii's calls into Node, as the generated bindings call them (``jsii.create(...)``, ``jsii.invoke(...)``).
JSII_CALLS = ("create", "delete", "get", "set", "sget", "sset", "invoke", "sinvoke", "ainvoke", "sainvoke")


class _SetAside(threading.local):
    """The tracers set aside by this thread's calls in progress (a call may call back, and the callback call
    again). Per thread, as tracers are: boto3's transfer threads call AWS beside the test's own."""

    def __init__(self) -> None:
        self.tracers: list[Any] = []


_set_aside = _SetAside()


def untraced(call: Callable[..., Any]) -> Callable[..., Any]:
    """``call``, run with the thread's tracer set aside: for a library that calls none of our code but through a
    callback wrapped by ``_traced_callback`` (jsii, botocore, cfn-lint)."""

    @functools.wraps(call)
    def set_aside(*args: Any, **kwargs: Any) -> Any:
        tracer = sys.gettrace()
        if tracer is None:
            return call(*args, **kwargs)
        sys.settrace(None)
        _set_aside.tracers.append(tracer)
        try:
            return call(*args, **kwargs)
        finally:
            sys.settrace(_set_aside.tracers.pop())  # the one a callback may have replaced (a debugger started there)

    return set_aside


def _traced_callback(handle: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handle)
    def traced(*args: Any, **kwargs: Any) -> Any:
        if not _set_aside.tracers or sys.gettrace() is not None:
            return handle(*args, **kwargs)  # not inside an untraced call (or called from our traced code): as is
        tracer = _set_aside.tracers[-1]
        sys.settrace(tracer)
        try:
            return handle(*args, **kwargs)
        finally:
            now = sys.gettrace()
            if now is not tracer:
                _set_aside.tracers[-1] = now  # set in our code (``breakpoint()``): it stays once the jsii call returns
            sys.settrace(None)

    return traced


def jsii_marshalling_untraced() -> None:
    """Set the tracer aside in jsii's calls into Node, and put it back in Node's calls into Python. Once per
    process, before the first call (tests/conftest.py)."""
    import jsii
    import jsii._kernel as kernel
    import jsii._type_checking as type_checking

    if getattr(jsii, "_marshalling_untraced", False):
        return
    for name in JSII_CALLS:
        setattr(jsii, name, untraced(getattr(jsii, name)))
    # _callback_till_result looks it up in its module on every callback.
    kernel._handle_callback = _traced_callback(kernel._handle_callback)  # type: ignore[attr-defined]
    # The bindings check every argument with typeguard before the call (``check_type``): the check it resolves
    # once, on the first call, through this module attribute.
    load = type_checking._load_typeguard_check
    type_checking._load_typeguard_check = lambda: untraced(load())
    jsii._marshalling_untraced = True  # type: ignore[attr-defined]


#: Where our code lives: a callable defined in a module under it (and not in the virtualenv) is ours.
_ROOT = Path(__file__).resolve().parents[1]
_VENV = Path(sys.prefix).resolve()


def _is_ours(handler: Any) -> bool:
    module = sys.modules.get(getattr(handler, "__module__", None) or "")
    file = getattr(module, "__file__", None)
    if file is None:
        return False
    path = Path(file).resolve()
    return path.is_relative_to(_ROOT) and not path.is_relative_to(_VENV)


class _TracedHandler:
    """One of our botocore event handlers, called with the tracer put back; equal to the handler it wraps, so
    that ``unregister(event, handler)`` still finds it."""

    def __init__(self, handler: Callable[..., Any]) -> None:
        functools.update_wrapper(self, handler)  # its name and docstring (first: it copies the handler's __dict__)
        self.handler = handler
        self.call = _traced_callback(handler)

    def __call__(self, **kwargs: Any) -> Any:
        return self.call(**kwargs)

    def __eq__(self, other: object) -> bool:
        return self.handler == (other.handler if isinstance(other, _TracedHandler) else other)

    def __hash__(self) -> int:
        return hash(self.handler)


@contextlib.contextmanager
def aws_calls_untraced() -> Iterator[None]:
    """While in effect, every AWS call through botocore runs with the thread's tracer set aside: the client's side
    (serializing, signing, its event handlers, parsing the answer) and moto's answer alike, and so does creating a
    client (loading its service model). Called with the tracer put back: an event handler of ours (modelctl's
    throttling counter), and an upload's progress callback (modelctl's progress), which s3transfer calls as botocore
    reads each 256 KiB of the body, within the call."""
    from botocore.client import BaseClient
    from botocore.hooks import BaseEventHooks
    from botocore.session import Session
    from s3transfer.upload import AggregatedProgressCallback

    call, create, register = BaseClient._make_api_call, Session.create_client, BaseEventHooks._verify_and_register
    progress = AggregatedProgressCallback._trigger_callbacks

    @functools.wraps(register)
    def registering(self: Any, event_name: str, handler: Any, *args: Any, **kwargs: Any) -> Any:
        if _is_ours(handler) and not isinstance(handler, _TracedHandler):
            self._verify_accept_kwargs(handler)  # botocore's check, on the handler itself: the wrapper takes **kwargs
            handler = _TracedHandler(handler)
        return register(self, event_name, handler, *args, **kwargs)

    BaseClient._make_api_call = untraced(call)  # type: ignore[method-assign]
    Session.create_client = untraced(create)  # type: ignore[method-assign]
    BaseEventHooks._verify_and_register = registering  # type: ignore[method-assign]
    AggregatedProgressCallback._trigger_callbacks = _traced_callback(progress)  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseClient._make_api_call = call  # type: ignore[method-assign]
        Session.create_client = create  # type: ignore[method-assign]
        BaseEventHooks._verify_and_register = register  # type: ignore[method-assign]
        AggregatedProgressCallback._trigger_callbacks = progress  # type: ignore[method-assign]
