"""The configuration contract: any value of the wrong type, anywhere, stops synth with exit 2 and one line.

Every field of every dataclass reachable from each environment gets a malformed value in turn (a value of
another type, NaN and infinity for numbers); ``app.main`` must answer with exit status 2 and a single line on
stderr that names the environment, the endpoint where there is one, the field path and the value.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterator
from typing import Any

import pytest

import app
from stacks.config import ConfigError
from tests.support import feature_environment, make_app

#: The configuration every field of which gets a malformed value: the tests' own, shaped as the examples are
#: (every kind of endpoint, consumers, scaling with schedules).
DEV = feature_environment()

Path = tuple[str | int, ...]


def _leaves(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any, Any]]:
    """(path, value, annotation) of every field under the dataclass ``value``, items of tuples included."""
    hints = typing.get_type_hints(type(value))
    for field in dataclasses.fields(value):
        item = getattr(value, field.name)
        yield (*path, field.name), item, hints[field.name]
        if dataclasses.is_dataclass(item):
            yield from _leaves(item, (*path, field.name))
        elif isinstance(item, tuple):
            for index, element in enumerate(item):
                if dataclasses.is_dataclass(element):
                    yield from _leaves(element, (*path, field.name, index))


def _replace(value: Any, path: Path, new: Any) -> Any:
    head, *rest = path
    if isinstance(head, int):
        items = list(value)
        items[head] = _replace(items[head], tuple(rest), new) if rest else new
        return tuple(items)
    if not rest:
        return _with(value, str(head), new)
    return _with(value, str(head), _replace(getattr(value, str(head)), tuple(rest), new))


def _with(instance: Any, name: str, new: Any) -> Any:
    """``dataclasses.replace`` without running the nested ``__post_init__`` checks of the copy's own fields."""
    copy = object.__new__(type(instance))
    for field in dataclasses.fields(instance):
        object.__setattr__(copy, field.name, new if field.name == name else getattr(instance, field.name))
    return copy


def _wrong(annotation: Any) -> Any:
    """A value no field of this type accepts."""
    text = str(annotation)
    if annotation is str or text.startswith("str"):
        return 42
    return "not-a-value"


def _cases() -> Iterator[Any]:
    for path, value, annotation in _leaves(DEV):
        yield pytest.param(path, _wrong(annotation), id=".".join(map(str, path)))
        if isinstance(value, float) and not isinstance(value, bool):
            yield pytest.param(path, math.nan, id=".".join(map(str, path)) + "=nan")
            yield pytest.param(path, math.inf, id=".".join(map(str, path)) + "=inf")


def _field(path: Path) -> str:
    """The field as the message names it: relative to the endpoint, items as [i]."""
    parts = list(path)
    if parts and parts[0] in ("multi_model_endpoints", "multi_container_endpoints") and len(parts) > 2:
        parts = parts[2:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@pytest.mark.parametrize(("path", "bad"), list(_cases()))
def test_every_field_refuses_a_malformed_value_in_one_line(
    path: Path, bad: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = DEV
    broken = _replace(dev, path, bad)
    # The checks run when an EnvironmentConfig is built, as the environments module builds them.
    with pytest.raises(ConfigError) as raised:
        dev.replace(**{f.name: getattr(broken, f.name) for f in dataclasses.fields(broken)})
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("environment ")
    assert repr(bad) in message or "nan" in message or "inf" in message, message
    if path[0] in ("multi_model_endpoints", "multi_container_endpoints") and len(path) > 2:
        assert ", endpoint " in message, message
    if not (path[-1] == "name" and len(path) == 1):
        assert _field(path).split("[")[0].split(".")[-1] in message, message

    # And through the app, as `make synth` runs it: exit 2, one line, no traceback.
    def broken_environments() -> tuple[Any, ...]:
        return (dev.replace(**{f.name: getattr(broken, f.name) for f in dataclasses.fields(broken)}),)

    monkeypatch.setattr(app, "configured_environments", broken_environments)
    assert app.main(make_app()) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_an_error_in_the_environments_module_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Mistakes surface while stacks/environments.py builds its EnvironmentConfigs, i.e. on import.
    def failing_import() -> tuple[Any, ...]:
        return (DEV.replace(account=111111111111),)

    monkeypatch.setattr(app, "configured_environments", failing_import)
    assert app.main(make_app()) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: environment 'dev': field 'account': 111111111111 must be a string"


@pytest.mark.parametrize(
    ("names", "why"),
    [
        (("city-prices", "city_prices"), "names the same thing as 'city-prices'"),
        (("city-prices", "City-Prices"), "names the same thing as 'city-prices'"),
        (("city-prices", "city-prices"), "is used more than once"),
    ],
)
def test_endpoint_names_must_differ_once_made_into_ids(names: tuple[str, str], why: str) -> None:
    endpoint = DEV.multi_model_endpoints[0]
    endpoints = tuple(dataclasses.replace(endpoint, name=n) for n in names)
    with pytest.raises(ConfigError, match=rf"environment 'dev': field 'endpoints': '{names[1]}' {why}"):
        DEV.replace(multi_model_endpoints=endpoints)


def test_consumer_names_must_be_present() -> None:
    endpoint = DEV.multi_model_endpoints[0]
    consumer = dataclasses.replace(endpoint.consumers[0], name=" ")
    with pytest.raises(ConfigError, match=r"^environment 'dev', endpoint 'prices': field 'consumers': ' ' is empty$"):
        DEV.replace(multi_model_endpoints=(dataclasses.replace(endpoint, consumers=(consumer,)),))
