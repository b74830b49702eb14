"""modelctl end to end against moto: package, validate, upload (with the guard running), list, invoke."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from hosting_contract import archive_rules as rules
from hosting_contract import ssm_paths
from hosting_contract.served_prefix import ServedPrefix
from modelctl.cli import main
from tests.modelctl.archives import Entry, good, tar_gz
from tests.support import Moto, lambda_module

guard_module = lambda_module("artifact_guard", "artifact_guard")
BUCKET = "sagemaker-models-dev-111111111111-eu-west-1"
PREFIX = "models/dev-home-values/"
MNIST = "models/dev-mnist/"
pytestmark = pytest.mark.usefixtures("quick_verdicts")


@pytest.fixture
def aws(moto: Moto) -> dict[str, Any]:
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    kms = moto.client("kms")
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    ssm = moto.client("ssm")
    for name, value in {
        ssm_paths.model_store_parameter("dev", ssm_paths.BUCKET_NAME): BUCKET,
        ssm_paths.model_store_parameter("dev", ssm_paths.KMS_KEY_ARN): key_arn,
        ssm_paths.model_store_parameter("dev", ssm_paths.ARTIFACT_GUARD_FUNCTION): "dev-guard",
        ssm_paths.artifacts_parameter("dev", "dev-home-values"): json.dumps(
            {"endpoint": "dev-home-values", "kind": "multi-model", "layout": "flat", "prefix": PREFIX}
        ),
        ssm_paths.artifacts_parameter("dev", "dev-mnist"): json.dumps(
            {
                "endpoint": "dev-mnist",
                "kind": "multi-container",
                "prefix": MNIST,
                "containers": {
                    "tensorflow-mnist": {"key": MNIST + "tensorflow-mnist/model.tar.gz", "layout": "tensorflow"},
                    "pytorch-mnist": {"key": MNIST + "pytorch-mnist/model.tar.gz", "layout": "flat"},
                },
            }
        ),
    }.items():
        ssm.put_parameter(Name=name, Value=value, Type="String")
    return {"s3": s3, "ssm": ssm, "key_arn": key_arn}


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
            ServedPrefix(prefix=PREFIX, endpoint_name="dev-home-values", layout=(layout or rules.Layout.FLAT).value)
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
        "error: environment 'dev' has no endpoint 'dev-nope' (is it in the configuration, and ModelStore deployed "
        "since it was added?) (SSM parameter /sagemaker-hosting/dev/artifacts/dev-nope not found)"
    )


def test_list_shows_verdicts(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    s3 = aws["s3"]
    version = s3.put_object(Bucket=BUCKET, Key=PREFIX + "A.tar.gz", Body=good())["VersionId"]
    s3.put_object_tagging(
        Bucket=BUCKET,
        Key=PREFIX + "A.tar.gz",
        Tagging={"TagSet": [{"Key": "guard-verdict", "Value": "valid"}, {"Key": "guard-version", "Value": version}]},
    )
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "B.tar.gz", Body=good())
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "B.warmup.json", Body=b"{}")
    # A verdict that names no version was not written by the guard for this object.
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "C.tar.gz", Body=good(), Tagging="guard-verdict=valid")
    assert _run("list", "--env", "dev", "--endpoint", "home-values") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [(line.split()[0], line.split()[-1]) for line in lines[1:4]] == [
        ("A.tar.gz", "valid"),
        ("B.tar.gz", "pending"),
        ("C.tar.gz", "unverified"),
    ]
    assert lines[-1] == f"3 archive(s) under s3://{BUCKET}/{PREFIX}"


@pytest.mark.usefixtures("aws")
def test_upload_to_a_container_goes_to_its_configured_key_with_its_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flat = _archive(tmp_path, "model.tar.gz", good())
    # The TensorFlow container's layout comes from the ModelStore: a flat archive is refused before upload.
    assert _run("upload", str(flat), "--env", "dev", "--endpoint", "mnist", "--container", "tensorflow-mnist") == 1
    assert "not uploaded" in capsys.readouterr().err
    saved = _archive(
        tmp_path, "tf.tar.gz", tar_gz([Entry("1/saved_model.pb", b"pb"), Entry("1/variables/variables.index", b"i")])
    )
    assert (
        _run(
            "upload",
            str(saved),
            "--env",
            "dev",
            "--endpoint",
            "mnist",
            "--container",
            "tensorflow-mnist",
            "--wait",
            "0",
        )
        == 0
    )
    assert f"uploaded s3://{BUCKET}/{MNIST}tensorflow-mnist/model.tar.gz (tensorflow layout)" in capsys.readouterr().out
    assert _run("list", "--env", "dev", "--endpoint", "mnist") == 0
    out = capsys.readouterr().out
    assert "tensorflow-mnist / model.tar.gz" in out
    assert f"1 archive(s) under s3://{BUCKET}/{MNIST}pytorch-mnist/, s3://{BUCKET}/{MNIST}tensorflow-mnist/" in out


@pytest.mark.usefixtures("aws")
def test_a_multi_container_upload_needs_a_known_container(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _archive(tmp_path, "model.tar.gz", good())
    assert _run("upload", str(archive), "--env", "dev", "--endpoint", "mnist", "--wait", "0") == 2
    assert capsys.readouterr().err.strip() == (
        "error: dev-mnist is a multi-container endpoint: give --container, one of: pytorch-mnist, tensorflow-mnist"
    )
    assert _run("upload", str(archive), "--env", "dev", "--endpoint", "home-values", "--container", "x") == 2
    assert "multi-model endpoint: it has no --container" in capsys.readouterr().err


class _GuardAsLambda:
    """lambda:Invoke of the guard (InvocationType Event), run in-process: moto runs functions only in Docker."""

    def __init__(self, s3: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.guard = guard_module.Guard(
            s3=s3,
            bucket=BUCKET,
            prefixes=[ServedPrefix(prefix=PREFIX, endpoint_name="dev-home-values")],
            limits=rules.Limits(),
            notify=lambda *_: None,
            emit=lambda _: None,
        )

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, int]:  # noqa: N803
        assert (FunctionName, InvocationType) == ("dev-guard", "Event")
        event = json.loads(Payload)
        self.events.append(event)
        self.guard.handle(event)
        return {"StatusCode": 202}


def test_rescan_sends_only_what_the_guard_has_not_judged(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws["s3"]
    # Uploaded before the guard existed: no event ever reached it.
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "Early.tar.gz", Body=good())
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "Forged.tar.gz", Body=b"not an archive", Tagging="guard-verdict=valid")
    fake = _GuardAsLambda(s3)

    def clients(service: str, region: str | None) -> Any:
        return fake if service == "lambda" else _clients(service, region)

    assert main(["rescan", "--env", "dev", "--endpoint", "home-values", "--wait", "5"], clients=clients) == 1
    out = capsys.readouterr().out
    assert "dev-home-values: 2 archive(s), 2 sent to the guard" in out
    assert f"{PREFIX}Early.tar.gz: valid" in out
    assert f"{PREFIX}Forged.tar.gz: rejected" in out
    # Idempotent: a second rescan finds nothing left to judge (the rejected archive was moved to quarantine).
    assert main(["rescan", "--env", "dev", "--endpoint", "home-values"], clients=clients) == 0
    assert "1 archive(s), 0 sent to the guard" in capsys.readouterr().out
    assert len(fake.events) == 2


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
