"""modelctl's exit statuses are documented and distinct, and every failure is one line on stderr: no traceback,
and for a missing region or missing credentials, how to give them."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError, SSOTokenLoadError

import modelctl
from modelctl.cli import (
    AWS_ERROR,
    CREDENTIALS_HELP,
    DENIED_HELP,
    EXPIRED_HELP,
    INTERNAL,
    INTERRUPTED,
    INVALID,
    NO_VERDICT,
    NOT_FOUND,
    OK,
    REGION_HELP,
    USAGE,
    main,
)

ROOT = Path(__file__).resolve().parents[2]
LIST = ["list", "--env", "dev", "--endpoint", "home-values"]


def test_every_status_is_its_own() -> None:
    statuses = [OK, INVALID, USAGE, AWS_ERROR, NOT_FOUND, NO_VERDICT, INTERNAL, INTERRUPTED]
    assert (OK, INVALID, USAGE, AWS_ERROR, NOT_FOUND) == (0, 1, 2, 3, 4)
    assert len(set(statuses)) == len(statuses)


def test_the_documented_statuses_are_the_code_s() -> None:
    section = (ROOT / "docs" / "OPERATIONS.md").read_text().split("## Models: adding, replacing, retiring")[1]
    documented = dict(re.findall(r"^\| `(\d+)` \| ([A-Za-z -]+?) \|", section, flags=re.MULTILINE))
    assert documented == {
        str(OK): "ok",
        str(INVALID): "invalid",
        str(USAGE): "usage",
        str(AWS_ERROR): "AWS error",
        str(NOT_FOUND): "not found",
        str(NO_VERDICT): "no verdict",
        str(INTERNAL): "internal error",
        str(INTERRUPTED): "interrupted",
    }


def test_version_is_the_project_s(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == OK
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert modelctl.__version__ == project
    assert capsys.readouterr().out == (
        f"modelctl {project} (Python {__import__('platform').python_version()}, boto3 {metadata.version('boto3')}, "
        f"isal {metadata.version('isal')}, tqdm {metadata.version('tqdm')})\n"
    )


def _no_aws(service: str, *_: Any) -> Any:
    raise AssertionError(f"no {service} client may be made")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--concurrency", "0", "argument --concurrency: must be at least 1, not 0"),
        ("--requests", "-5", "argument --requests: must be at least 1, not -5"),
        ("--time-limit", "0", "argument --time-limit: must be at least 0.001, not 0"),
        ("--concurrency", "many", "argument --concurrency: 'many' is not a whole number"),
        ("--time-limit", "soon", "argument --time-limit: 'soon' is not a number"),
    ],
)
def test_loadtest_numbers_are_checked_before_anything_runs(
    capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    argv = ["loadtest", "--env", "dev", "--endpoint", "home-values", "--models", "A.tar.gz", "--body", "row.csv"]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, option, value], clients=_no_aws)
    assert exit_.value.code == USAGE
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"modelctl loadtest: error: {message}"
    assert "Traceback" not in err


def test_a_negative_wait_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["upload", "m.tar.gz", "--env", "dev", "--endpoint", "x", "--wait", "-1"], clients=_no_aws)
    assert exit_.value.code == USAGE
    assert capsys.readouterr().err.splitlines()[-1] == (
        "modelctl upload: error: argument --wait: must be at least 0, not -1"
    )


@pytest.fixture
def no_aws_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """This machine's AWS configuration, emptied: no profile files, no region, no credentials (the tests' fake
    ones included), and a new default boto3 session (the one other tests used remembers its credentials)."""
    for name in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    return monkeypatch


@pytest.mark.usefixtures("no_aws_configuration")
def test_a_missing_region_says_how_to_set_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(LIST) == AWS_ERROR
    err = capsys.readouterr().err
    assert err == f"error: {REGION_HELP}\n"
    assert "--region" in err
    assert "AWS_REGION" in err


@pytest.mark.usefixtures("no_aws_configuration")
def test_missing_credentials_say_how_to_set_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*LIST, "--region", "eu-west-1"]) == AWS_ERROR
    err = capsys.readouterr().err
    assert err == f"error: {CREDENTIALS_HELP} (Unable to locate credentials)\n"
    assert "aws sso login --profile NAME" in err
    assert "AWS_ACCESS_KEY_ID" in err


def test_an_unknown_profile_says_how_to_sign_in(
    no_aws_configuration: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_aws_configuration.setenv("AWS_PROFILE", "nobody")
    assert main([*LIST, "--region", "eu-west-1"]) == AWS_ERROR
    assert capsys.readouterr().err == (f"error: {CREDENTIALS_HELP} (The config profile (nobody) could not be found)\n")


class _Failing:
    """An SSM client whose every call raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def get_parameter(self, **_: Any) -> Any:
        raise self.error


def _client_error(code: str, message: str = "no") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetParameter")


@pytest.mark.parametrize(
    ("error", "status", "hint"),
    [
        (_client_error("AccessDeniedException"), AWS_ERROR, DENIED_HELP),
        (_client_error("ExpiredTokenException"), AWS_ERROR, EXPIRED_HELP),
        (_client_error("UnrecognizedClientException"), AWS_ERROR, EXPIRED_HELP),
        (_client_error("ThrottlingException"), AWS_ERROR, None),
        (_client_error("ValidationException", "Endpoint dev-x of account 1 not found."), NOT_FOUND, None),
        (_client_error("NoSuchBucket"), NOT_FOUND, None),
        (EndpointConnectionError(endpoint_url="https://ssm.eu-west-1.amazonaws.com/"), AWS_ERROR, None),
        (ParamValidationError(report="Invalid length for parameter Name"), USAGE, None),
    ],
)
def test_aws_failures_are_one_line_with_their_status(
    capsys: pytest.CaptureFixture[str], error: Exception, status: int, hint: str | None
) -> None:
    assert main(LIST, clients=lambda *_: _Failing(error)) == status
    err = capsys.readouterr().err
    assert err == f"error: {str(error).replace(chr(10), ' ')}" + (f": {hint}" if hint else "") + "\n"


def test_an_expired_sign_in_says_how_to_sign_in_again(capsys: pytest.CaptureFixture[str]) -> None:
    error = SSOTokenLoadError(error_msg="the SSO session has expired")
    assert main(LIST, clients=lambda *_: _Failing(error)) == AWS_ERROR
    assert capsys.readouterr().err == f"error: {EXPIRED_HELP} ({error})\n"


def test_a_missing_model_store_is_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(LIST, clients=lambda *_: _Failing(_client_error("ParameterNotFound"))) == NOT_FOUND
    assert capsys.readouterr().err == (
        "error: environment 'dev' has no model store: is its ModelStore stack deployed? "
        "(SSM parameter /sagemaker-hosting/dev/model-store/bucket-name not found)\n"
    )


def test_a_bug_is_one_line_unless_asked_for_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MODELCTL_TRACEBACK", raising=False)
    assert main(LIST, clients=lambda *_: _Failing(RuntimeError("boom"))) == INTERNAL
    assert capsys.readouterr().err == (
        "error: unexpected RuntimeError: boom (a bug in modelctl: MODELCTL_TRACEBACK=1 shows where)\n"
    )
    monkeypatch.setenv("MODELCTL_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(LIST, clients=lambda *_: _Failing(RuntimeError("boom")))


def test_ctrl_c_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(LIST, clients=lambda *_: _Failing(KeyboardInterrupt())) == INTERRUPTED
    assert capsys.readouterr().err == "interrupted\n"


def test_a_folder_given_as_an_archive_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path)]) == USAGE
    assert capsys.readouterr().err == f"error: {tmp_path}: Is a directory\n"
