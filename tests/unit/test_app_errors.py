"""A configuration mistake ends synth with one clear line, never a stack trace."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

import app
from stacks.compliance import add_compliance_checks
from tests.support import make_app


def test_unknown_environment_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    # `cdk synth -c env=qa` puts {"env": "qa"} into the app's context.
    assert app.main(make_app(env="qa")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: environment 'qa' (passed with -c env=) is unknown")
    assert "Traceback" not in err


def test_unacknowledged_finding_fails_synth_and_is_listed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def build_with_a_plain_bucket(cdk_app: cdk.App) -> list[cdk.Stage]:
        stage = cdk.Stage(cdk_app, "Bad")
        s3.Bucket(cdk.Stack(stage, "Store"), "Plain")
        add_compliance_checks(stage)
        return [stage]

    monkeypatch.setattr(app, "build", build_with_a_plain_bucket)
    assert app.main(make_app()) == 1
    err = capsys.readouterr().err
    assert "unacknowledged compliance finding(s):" in err
    assert "  AwsSolutions-S1 on Bad/Store/Plain/Resource" in err.splitlines()
    assert "Traceback" not in err
