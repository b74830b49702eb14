"""A configuration mistake ends synth with one clear line, never a stack trace."""

from __future__ import annotations

from dataclasses import replace

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm

import app
from stacks.compliance import add_compliance_checks
from tests import examples
from tests.support import feature_environment, make_app


def test_unknown_environment_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    # `cdk synth -c env=qa` puts {"env": "qa"} into the app's context.
    assert app.main(make_app(env="qa")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: environment 'qa' (passed with -c env=) is unknown")
    assert "Traceback" not in err


def test_unacknowledged_finding_fails_synth_and_is_listed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def build_with_a_plain_bucket(cdk_app: cdk.App, _environments: object) -> list[cdk.Stage]:
        stage = cdk.Stage(cdk_app, "Bad")
        s3.Bucket(cdk.Stack(stage, "Store"), "Plain")
        add_compliance_checks(stage)
        return [stage]

    monkeypatch.setattr(app, "build", build_with_a_plain_bucket)
    assert app.main(make_app()) == 1
    err = capsys.readouterr().err
    assert "unacknowledged finding(s):" in err
    assert any(line.startswith("  AwsSolutions-S1 on Bad/Store/Plain/Resource (") for line in err.splitlines())
    assert "Traceback" not in err


def test_a_stack_over_the_resource_limit_fails_synth(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """501 resources: one line naming the stack and the count, and what to change; no CDK exception text."""

    def build_one_oversized_stack(cdk_app: cdk.App, _environments: object) -> list[cdk.Stage]:
        stage = cdk.Stage(cdk_app, "Dev")
        stack = cdk.Stack(stage, "Hosting")
        for index in range(501):
            cdk.CfnWaitConditionHandle(stack, f"H{index}")
        return [stage]

    monkeypatch.setattr(app, "build", build_one_oversized_stack)
    assert app.main(make_app()) == 1
    err = capsys.readouterr().err
    assert "error: CloudFormation would refuse these templates:" in err
    assert "  Dev/Hosting: resources 501 of 500 (spread the endpoints over more Hosting stacks: hosting_stacks" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("outputs", "F0004 on Big/Big (Template has 201 outputs, maximum is 200)"),
        # 201 of ours and the CDK's BootstrapVersion.
        ("parameters", "F0003 on Big/Big (Template has 202 parameters, maximum is 200)"),
        ("size", "Annotation::@aws-cdk/core:Stack.templateSize on Big/Big (Template size exceeds limit: "),
    ],
)
def test_every_cloudformation_limit_fails_synth(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], limit: str, expected: str
) -> None:
    def build_one_oversized_stack(cdk_app: cdk.App, _environments: object) -> list[cdk.Stage]:
        stage = cdk.Stage(cdk_app, "Big")
        stack = cdk.Stack(stage, "Big")
        for index in range(201 if limit != "size" else 300):
            if limit == "outputs":
                cdk.CfnOutput(stack, f"O{index}", value=str(index))
            elif limit == "parameters":
                cdk.CfnParameter(stack, f"P{index}", default="x")
            else:
                ssm.StringParameter(stack, f"S{index}", string_value="v" * 4000, description="d" * 1000)
        if limit != "size":
            ssm.StringParameter(stack, "One", string_value="x")
        return [stage]

    monkeypatch.setattr(app, "build", build_one_oversized_stack)
    assert app.main(make_app()) == 1
    assert any(line.strip().startswith(expected) for line in capsys.readouterr().err.splitlines())


def test_an_image_version_aws_does_not_publish_is_one_line_with_the_nearest(capsys: pytest.CaptureFixture[str]) -> None:
    # The first release hand-typed tensorflow-inference:2.19.0-cpu-py312, a tag AWS never published: images are
    # now looked up in the SageMaker SDK's image tables, and an unknown version stops synth naming the nearest.
    from stacks.config import FrameworkImage, ImageConfig

    dev = feature_environment()
    endpoint = dev.multi_model_endpoints[0]
    image = ImageConfig(framework=FrameworkImage(framework="xgboost", version="1.8-1"))
    bad = dev.replace(multi_model_endpoints=(replace(endpoint, image=image),), multi_container_endpoints=())
    assert app.main(make_app(), (bad,)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: environment 'dev', endpoint 'prices': ServingImage.from_framework: ")
    assert "'1.8-1'" in err
    assert "nearest: " in err
    assert "1.7-1" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("environment", examples.ENVIRONMENTS, ids=lambda e: e.name)
def test_every_configured_image_exists_in_aws_image_tables(environment: object) -> None:
    from constructs_lib import image_catalog
    from stacks.config import EnvironmentConfig

    assert isinstance(environment, EnvironmentConfig)
    images = [e.image for e in environment.multi_model_endpoints] + [
        c.image for e in environment.multi_container_endpoints for c in e.containers
    ]
    for image in images:
        assert image.framework is not None, f"{image} is not looked up in AWS's image tables"
        f = image.framework
        uri = image_catalog.image_uri(
            f.framework, f.version, region=environment.region, processor=f.processor, py_version=f.py_version
        )
        assert uri.startswith(("763104351884.", "141502667606.")), uri
