"""modelctl end to end against moto: package, validate, upload (with the guard running), list, invoke."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws

from modelctl.cli import main
from tests.modelctl.archives import Entry, good, tar_gz
from tests.support import lambda_module

guard_module = lambda_module("artifact_guard", "artifact_guard")
rules = lambda_module("artifact_guard", "archive_rules")
BUCKET = "sagemaker-models-dev-111111111111-eu-west-1"
PREFIX = "models/dev-home-values/"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        kms = boto3.client("kms", region_name="eu-west-1")
        key_arn = kms.create_key()["KeyMetadata"]["Arn"]
        ssm = boto3.client("ssm", region_name="eu-west-1")
        for name, value in {
            "/sagemaker-hosting/dev/model-store/bucket-name": BUCKET,
            "/sagemaker-hosting/dev/model-store/kms-key-arn": key_arn,
            "/sagemaker-hosting/dev/endpoints/dev-home-values/prefix": PREFIX,
        }.items():
            ssm.put_parameter(Name=name, Value=value, Type="String")
        yield {"s3": s3, "ssm": ssm, "key_arn": key_arn}


def _clients(service: str, region: str | None) -> Any:
    return boto3.client(service, region_name=region or "eu-west-1")


def _run(*argv: str) -> int:
    return main(list(argv), clients=_clients)


def _archive(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_package_then_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "model"
    source.mkdir()
    (source / "model.json").write_text("{}")
    assert _run("package", str(source), "-o", str(tmp_path / "m.tar.gz")) == 0
    assert _run("validate", str(tmp_path / "m.tar.gz")) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("m.tar.gz: valid")


def test_validate_lists_each_problem_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _archive(tmp_path, "bad.tar.gz", tar_gz([Entry("/abs", b"x"), Entry("dev", type=b"3")]))
    assert _run("validate", str(bad)) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        f"{bad}: absolute-path: '/abs' is an absolute path",
        f"{bad}: special-file: 'dev' is a character device",
    ]
    assert "Traceback" not in out.err


def test_validate_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("validate", str(tmp_path / "missing.tar.gz")) == 2
    assert "No such file or directory" in capsys.readouterr().err


def _run_guard_when_uploaded(key: str, layout: Any = None) -> threading.Thread:
    """The artifact guard, reacting to the upload as EventBridge would make it."""
    s3 = boto3.client("s3", region_name="eu-west-1")
    guard = guard_module.Guard(
        s3=s3,
        prefixes=[
            guard_module.ServedPrefix(
                prefix=PREFIX, endpoint_name="dev-home-values", layout=layout or rules.Layout.FLAT
            )
        ],
        limits=rules.Limits(),
        notify=lambda *_: None,
        emit=lambda _: None,
    )

    def watch() -> None:
        for _ in range(200):
            versions = s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", [])
            if versions:
                event = {
                    "detail": {
                        "bucket": {"name": BUCKET},
                        "object": {"key": key, "version-id": versions[0]["VersionId"]},
                    }
                }
                guard.handle(event)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


def test_upload_waits_for_the_guard_verdict(
    aws: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _archive(tmp_path, "Chicago_IL.tar.gz", good())
    guard = _run_guard_when_uploaded(PREFIX + "Chicago_IL.tar.gz")
    assert _run("upload", str(archive), "--env", "dev", "--endpoint", "home-values", "--wait", "10") == 0
    guard.join()
    out = capsys.readouterr().out
    assert f"uploaded s3://{BUCKET}/{PREFIX}Chicago_IL.tar.gz" in out
    assert "guard verdict: valid" in out
    head = aws["s3"].head_object(Bucket=BUCKET, Key=PREFIX + "Chicago_IL.tar.gz")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", aws["key_arn"])


def test_upload_refuses_to_overwrite(aws: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    aws["s3"].put_object(Bucket=BUCKET, Key=PREFIX + "Chicago_IL.tar.gz", Body=good())
    archive = _archive(tmp_path, "Chicago_IL.tar.gz", good())
    assert _run("upload", str(archive), "--env", "dev", "--endpoint", "dev-home-values", "--wait", "0") == 2
    assert "upload under a new name" in capsys.readouterr().err
    assert len(aws["s3"].list_object_versions(Bucket=BUCKET, Prefix=PREFIX)["Versions"]) == 1


def test_upload_refuses_a_key_that_was_used_before(
    aws: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aws["s3"].put_object(Bucket=BUCKET, Key=PREFIX + "Chicago_IL.tar.gz", Body=good())
    aws["s3"].delete_object(Bucket=BUCKET, Key=PREFIX + "Chicago_IL.tar.gz")
    archive = _archive(tmp_path, "Chicago_IL.tar.gz", good())
    assert _run("upload", str(archive), "--env", "dev", "--endpoint", "home-values", "--wait", "0") == 2
    assert "exists or existed" in capsys.readouterr().err


def test_upload_validates_locally_first(
    aws: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _archive(tmp_path, "wrapped.tar.gz", tar_gz([Entry("mymodel/model.json", b"{}")]))
    assert _run("upload", str(archive), "--env", "dev", "--endpoint", "home-values") == 1
    assert "wrapped: every file is inside 'mymodel/'" in capsys.readouterr().out
    assert aws["s3"].list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_upload_reports_a_rejection(aws: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Valid as a flat archive locally, but the endpoint serves Triton models: the guard rejects it.
    archive = _archive(tmp_path, "resnet.tar.gz", good())
    guard = _run_guard_when_uploaded(PREFIX + "resnet.tar.gz", rules.Layout.TRITON)
    assert _run("upload", str(archive), "--env", "dev", "--endpoint", "home-values", "--wait", "10") == 1
    guard.join()
    out = capsys.readouterr().out
    # S3 tag values allow no angle brackets: the reason comes back sanitised.
    assert "guard verdict: rejected (layout: Triton layout needs _model_/config.pbtxt)" in out
    assert aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("KeyCount") == 0


@pytest.mark.usefixtures("aws")
def test_unknown_endpoint_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _archive(tmp_path, "m.tar.gz", good())
    assert _run("upload", str(archive), "--env", "dev", "--endpoint", "nope", "--wait", "0") == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "error: environment 'dev' has no endpoint 'dev-nope': is Hosting deployed? "
        "(SSM parameter /sagemaker-hosting/dev/endpoints/dev-nope/prefix not found)"
    )


def test_list_shows_verdicts(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    s3 = aws["s3"]
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "A.tar.gz", Body=good(), Tagging="guard-verdict=valid")
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "B.tar.gz", Body=good())
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "B.warmup.json", Body=b"{}")
    assert _run("list", "--env", "dev", "--endpoint", "home-values") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[0] == "A.tar.gz"
    assert lines[1].split()[-1] == "valid"
    assert lines[2].split()[0] == "B.tar.gz"
    assert lines[2].split()[-1] == "pending"
    assert lines[-1] == f"2 model(s) under s3://{BUCKET}/{PREFIX}"


@pytest.mark.usefixtures("aws")
def test_invoke_passes_the_target_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # moto answers invocations with queued results.
    requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
        json={"results": [{"Body": "[412000.0]", "ContentType": "application/json"}], "region": "eu-west-1"},
        timeout=5,
    )
    body = _archive(tmp_path, "row.csv", b"3,2,1500")
    assert (
        _run(
            "invoke",
            "--env",
            "dev",
            "--endpoint",
            "home-values",
            "--target-model",
            "Chicago_IL.tar.gz",
            "--body",
            str(body),
            "--content-type",
            "text/csv",
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == "[412000.0]"
