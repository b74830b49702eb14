"""Coverage measures our code, not the libraries the tests drive: where a library does heavy work in the test's
own thread and calls none of our code, it runs with the thread's tracer set aside.

Under ``make test`` coverage traces with ``sys.settrace`` (Python 3.11 has no ``sys.monitoring``): every Python
frame of the process pays for it, ours or not. Two libraries do most of the tests' work outside our code:

- jsii, which marshals every call into the CDK's Node process and back. When Node calls back into Python (a
  Python object that implements a CDK interface: a lazy value, an aspect, a validation), that callback runs with
  the tracer put back, so our code is measured as before.
- moto, which answers each AWS call in the calling thread (``moto_answers_untraced``).

A debugger's tracer is set aside the same way, within those calls only.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any

#: jsii's calls into Node, as the generated bindings call them (``jsii.create(...)``, ``jsii.invoke(...)``).
JSII_CALLS = ("create", "delete", "get", "set", "sget", "sset", "invoke", "sinvoke", "ainvoke", "sainvoke")

#: The tracers set aside by the jsii calls in progress (a call may call back, and the callback call again).
_set_aside: list[Any] = []


def _untraced_jsii(call: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(call)
    def untraced(*args: Any, **kwargs: Any) -> Any:
        tracer = sys.gettrace()
        if tracer is None:
            return call(*args, **kwargs)
        sys.settrace(None)
        _set_aside.append(tracer)
        try:
            return call(*args, **kwargs)
        finally:
            sys.settrace(_set_aside.pop())  # the one a callback may have replaced (a debugger started there)

    return untraced


def _traced_callback(handle: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handle)
    def traced(*args: Any, **kwargs: Any) -> Any:
        if not _set_aside:
            return handle(*args, **kwargs)
        tracer = _set_aside[-1]
        sys.settrace(tracer)
        try:
            return handle(*args, **kwargs)
        finally:
            now = sys.gettrace()
            if now is not tracer:
                _set_aside[-1] = now  # set in our code (``breakpoint()``): it stays once the jsii call returns
            sys.settrace(None)

    return traced


def jsii_marshalling_untraced() -> None:
    """Set the tracer aside in jsii's calls into Node, and put it back in Node's calls into Python. Once per
    process, before the first call (tests/conftest.py)."""
    import jsii
    import jsii._kernel as kernel

    if getattr(jsii, "_marshalling_untraced", False):
        return
    for name in JSII_CALLS:
        setattr(jsii, name, _untraced_jsii(getattr(jsii, name)))
    # _callback_till_result looks it up in its module on every callback.
    kernel._handle_callback = _traced_callback(kernel._handle_callback)  # type: ignore[attr-defined]
    jsii._marshalling_untraced = True  # type: ignore[attr-defined]


@contextlib.contextmanager
def moto_answers_untraced() -> Iterator[None]:
    """While in effect, moto answers each AWS call with the thread's tracer set aside (none of our code runs
    inside moto's answer); the client's side of the call stays traced."""
    from moto.core.botocore_stubber import BotocoreStubber

    answer = BotocoreStubber.__call__

    @functools.wraps(answer)
    def untraced(self: Any, *args: Any, **kwargs: Any) -> Any:
        tracer = sys.gettrace()
        if tracer is None:
            return answer(self, *args, **kwargs)
        sys.settrace(None)
        try:
            return answer(self, *args, **kwargs)
        finally:
            sys.settrace(tracer)

    BotocoreStubber.__call__ = untraced  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.__call__ = answer  # type: ignore[method-assign]
