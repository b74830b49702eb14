"""modelctl end to end against moto: package, validate, upload (with the guard running), list, invoke."""

from __future__ import annotations

import io
import json
import re
import sys
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
from modelctl import progress
from modelctl.cli import INVALID, NO_VERDICT, NOT_FOUND, OK, USAGE, main
from tests.modelctl.archives import Entry, good, tar_gz
from tests.support import Moto, lambda_module, mocked_clients

guard_module = lambda_module("artifact_guard", "artifact_guard")
BUCKET = "sagemaker-models-dev-111111111111-eu-west-1"
PREFIX = "models/dev-home-values/"
MNIST = "models/dev-mnist/"
TABULAR = "models/dev-tabular/"
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
        # As the artifact catalog publishes an endpoint of inference components: one archive per component.
        ssm_paths.artifacts_parameter("dev", "dev-tabular"): json.dumps(
            {
                "endpoint": "dev-tabular",
                "kind": "inference-components",
                "prefix": TABULAR,
                "containers": {
                    "churn": {"key": TABULAR + "churn/model.tar.gz", "layout": "flat"},
                    "fraud": {"key": TABULAR + "fraud/model.tar.gz", "layout": "tensorflow"},
                },
            }
        ),
    }.items():
        ssm.put_parameter(Name=name, Value=value, Type="String")
    return {"s3": s3, "ssm": ssm, "key_arn": key_arn}


_clients = mocked_clients


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
    # Not found (4), not a usage error: the command line was right, the file is not there.
    assert _run("validate", str(tmp_path / "missing.tar.gz")) == NOT_FOUND
    assert capsys.readouterr().err == f"error: {tmp_path / 'missing.tar.gz'}: No such file or directory\n"


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
    assert _run("upload", str(archive), "--env", "dev", "--endpoint", "nope", "--wait", "0") == NOT_FOUND
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


def test_rescan_without_an_endpoint_checks_every_endpoint_of_the_catalog(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # The catalog's layout: one parameter per endpoint directly under the environment's artifacts path, named after
    # the deployed endpoint (hosting_contract.ssm_paths.artifacts_parameter); GetParametersByPath lists them.
    aws["s3"].put_object(Bucket=BUCKET, Key=PREFIX + "Early.tar.gz", Body=good())
    fake = _GuardAsLambda(aws["s3"])

    def clients(service: str, region: str | None) -> Any:
        return fake if service == "lambda" else _clients(service, region)

    assert main(["rescan", "--env", "dev", "--wait", "5"], clients=clients) == 0
    out = capsys.readouterr().out
    for endpoint in ("dev-home-values", "dev-mnist", "dev-tabular"):
        assert f"{endpoint}: " in out, out
    assert "dev-home-values: 1 archive(s), 1 sent to the guard" in out
    assert [e["detail"]["object"]["key"] for e in fake.events] == [PREFIX + "Early.tar.gz"]


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


# -- inference components ------------------------------------------------------------------------------------------

#: The header InvokeEndpoint carries InferenceComponentName in (botocore's sagemaker-runtime model).
COMPONENT_HEADER = "X-Amzn-SageMaker-Inference-Component"


class Runtime:
    """sagemaker-runtime clients of the moto mock that record the headers of every InvokeEndpoint sent."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    def clients(self, service: str, region: str | None, config: Any = None) -> Any:
        client = _clients(service, region, config)
        if service == "sagemaker-runtime":
            client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", self._record)
        return client

    def _record(self, request: Any, **_: Any) -> None:
        self.headers.append({k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()})

    def components(self) -> list[str | None]:
        return [h.get(COMPONENT_HEADER) for h in self.headers]


def _queue_answers(*bodies: str) -> None:
    """moto answers each distinct request (headers included) with the next queued body, then always with it."""
    requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
        json={"results": [{"Body": b, "ContentType": "application/json"} for b in bodies], "region": "eu-west-1"},
        timeout=5,
    )


def _invoke(runtime: Runtime, tmp_path: Path, endpoint: str, *target: str) -> int:
    body = _archive(tmp_path, "row.json", b'{"tenure": 3}')
    argv = [
        "invoke",
        "--env",
        "dev",
        "--endpoint",
        endpoint,
        *target,
        "--body",
        str(body),
        "--content-type",
        "text/csv",
    ]
    return main(argv, clients=runtime.clients)


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("given", ["churn", "dev-tabular-churn"])
def test_invoke_sends_the_component_s_deployed_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    _queue_answers("[0.83]")
    runtime = Runtime()
    assert _invoke(runtime, tmp_path, "tabular", "--component", given) == 0
    assert capsys.readouterr().out.strip() == "[0.83]"
    assert runtime.components() == ["dev-tabular-churn"]
    assert not any("X-Amzn-SageMaker-Target-Model" in h for h in runtime.headers)


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(
    "target", [["--pipeline"], ["--target-model", "churn.tar.gz"], ["--target-container", "churn"]]
)
def test_invoke_refuses_a_component_endpoint_without_a_component(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: list[str]
) -> None:
    runtime = Runtime()
    assert _invoke(runtime, tmp_path, "tabular", *target) == USAGE
    assert capsys.readouterr().err == (
        "error: dev-tabular is an inference-component endpoint: give --component, one of: churn, fraud\n"
    )
    assert runtime.headers == []


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(("endpoint", "kind"), [("home-values", "a multi-model"), ("mnist", "a multi-container")])
def test_invoke_refuses_a_component_on_another_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], endpoint: str, kind: str
) -> None:
    runtime = Runtime()
    assert _invoke(runtime, tmp_path, endpoint, "--component", "churn") == USAGE
    assert capsys.readouterr().err == f"error: dev-{endpoint} is {kind} endpoint: it has no --component\n"
    assert runtime.headers == []


@pytest.mark.usefixtures("aws")
def test_invoke_refuses_a_component_name_sagemaker_would(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runtime = Runtime()
    long = "c" * (64 - len("dev-tabular-"))
    assert _invoke(runtime, tmp_path, "tabular", "--component", long) == USAGE
    assert capsys.readouterr().err == (
        f"error: --component '{long}': 'dev-tabular-{long}' is no inference component name "
        "(1-63 letters, digits and inner hyphens; 64 given)\n"
    )
    assert _invoke(runtime, tmp_path, "tabular", "--component", "churn_v2") == USAGE
    assert "'dev-tabular-churn_v2' is no inference component name" in capsys.readouterr().err
    assert runtime.headers == []


@pytest.mark.usefixtures("aws")
def test_loadtest_spreads_requests_over_the_components(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _queue_answers("[0.1]", "[0.9]")
    runtime = Runtime()
    body = _archive(tmp_path, "row.json", b"{}")
    argv = ["loadtest", "--env", "dev", "--endpoint", "tabular", "--component", "churn,dev-tabular-fraud"]
    argv += ["--requests", "6", "--concurrency", "2", "--body", str(body), "--content-type", "application/json"]
    assert main(argv, clients=runtime.clients) == OK
    assert sorted(runtime.components()) == ["dev-tabular-churn"] * 3 + ["dev-tabular-fraud"] * 3
    rows = {line.split()[0]: line.split()[1:3] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows == {"dev-tabular-churn": ["3", "0"], "dev-tabular-fraud": ["3", "0"]}


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(
    ("endpoint", "target", "message"),
    [
        (
            "tabular",
            ["--models", "churn.tar.gz"],
            "dev-tabular is an inference-component endpoint: give --component, one of: churn, fraud",
        ),
        ("home-values", ["--component", "churn"], "dev-home-values is a multi-model endpoint: it has no --component"),
        ("tabular", ["--component", "churn,"], "--component 'churn,': name at least one component, none empty"),
    ],
)
def test_loadtest_refuses_a_wrong_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], endpoint: str, target: list[str], message: str
) -> None:
    runtime = Runtime()
    body = _archive(tmp_path, "row.json", b"{}")
    argv = ["loadtest", "--env", "dev", "--endpoint", endpoint, *target, "--requests", "1", "--body", str(body)]
    assert main(argv, clients=runtime.clients) == USAGE
    assert capsys.readouterr().err == f"error: {message}\n"
    assert runtime.headers == []


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("given", ["fraud", "dev-tabular-fraud"])
def test_upload_to_a_component_goes_to_its_configured_key_with_its_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    flat = _archive(tmp_path, "model.tar.gz", good())
    # The fraud component serves TensorFlow: a flat archive is refused before upload.
    assert _run("upload", str(flat), "--env", "dev", "--endpoint", "tabular", "--component", given) == INVALID
    assert "not uploaded" in capsys.readouterr().err
    saved = _archive(
        tmp_path, "tf.tar.gz", tar_gz([Entry("1/saved_model.pb", b"pb"), Entry("1/variables/variables.index", b"i")])
    )
    argv = ["upload", str(saved), "--env", "dev", "--endpoint", "tabular", "--component", given, "--wait", "0"]
    assert _run(*argv) == OK
    assert f"uploaded s3://{BUCKET}/{TABULAR}fraud/model.tar.gz (tensorflow layout)" in capsys.readouterr().out
    assert _run("list", "--env", "dev", "--endpoint", "tabular") == OK
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("component / archive ")
    assert out[1].startswith("fraud / model.tar.gz ")
    assert out[-1] == f"1 archive(s) under s3://{BUCKET}/{TABULAR}churn/, s3://{BUCKET}/{TABULAR}fraud/"


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(
    ("endpoint", "member", "message", "status"),
    [
        (
            "tabular",
            [],
            "dev-tabular is an inference-component endpoint: give --component, one of: churn, fraud",
            USAGE,
        ),
        (
            "tabular",
            ["--container", "churn"],
            "dev-tabular is an inference-component endpoint: give --component, one of: churn, fraud",
            USAGE,
        ),
        (
            # Named right, but there is no such component: not found.
            "tabular",
            ["--component", "scoring"],
            "dev-tabular has no component 'scoring' with an archive; known: churn, fraud",
            NOT_FOUND,
        ),
        (
            "mnist",
            ["--component", "tensorflow-mnist"],
            "dev-mnist is a multi-container endpoint: give --container, one of: pytorch-mnist, tensorflow-mnist",
            USAGE,
        ),
        (
            "home-values",
            ["--component", "churn"],
            "dev-home-values is a multi-model endpoint: it has no --component",
            USAGE,
        ),
    ],
)
def test_an_upload_names_a_component_of_a_component_endpoint_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], endpoint: str, member: list[str], message: str, status: int
) -> None:
    archive = _archive(tmp_path, "model.tar.gz", good())
    assert _run("upload", str(archive), "--env", "dev", "--endpoint", endpoint, *member, "--wait", "0") == status
    assert capsys.readouterr().err == f"error: {message}\n"


def test_container_and_component_are_one_or_the_other(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _archive(tmp_path, "model.tar.gz", good())
    with pytest.raises(SystemExit) as exit_:
        _run("upload", str(archive), "--env", "dev", "--endpoint", "tabular", "--container", "a", "--component", "b")
    assert exit_.value.code == USAGE
    assert "argument --component: not allowed with argument --container" in capsys.readouterr().err


@pytest.mark.usefixtures("aws")
def test_invoke_needs_the_endpoint_in_the_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The catalog says whether the endpoint needs a component: without it, nothing is sent.
    runtime = Runtime()
    assert _invoke(runtime, tmp_path, "nope", "--pipeline") == NOT_FOUND
    assert capsys.readouterr().err.startswith("error: environment 'dev' has no endpoint 'dev-nope' ")
    assert runtime.headers == []


# -- JSON ----------------------------------------------------------------------------------------------------------


def test_list_json(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    s3 = aws["s3"]
    version = s3.put_object(Bucket=BUCKET, Key=PREFIX + "A.tar.gz", Body=good())["VersionId"]
    tags = [{"Key": "guard-verdict", "Value": "valid"}, {"Key": "guard-version", "Value": version}]
    s3.put_object_tagging(Bucket=BUCKET, Key=PREFIX + "A.tar.gz", Tagging={"TagSet": tags})
    assert _run("list", "--env", "dev", "--endpoint", "home-values", "--json") == OK
    document = json.loads(capsys.readouterr().out)
    (archive,) = document.pop("archives")
    assert document == {"endpoint": "dev-home-values", "kind": "multi-model", "bucket": BUCKET, "folders": [PREFIX]}
    uploaded = archive.pop("uploaded")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", uploaded)
    assert archive == {
        "name": "A.tar.gz",
        "container": None,
        "component": None,
        "key": PREFIX + "A.tar.gz",
        "bytes": len(good()),
        "version_id": version,
        "verdict": "valid",
    }


def test_list_json_names_the_component(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    aws["s3"].put_object(Bucket=BUCKET, Key=TABULAR + "churn/model.tar.gz", Body=good())
    assert _run("list", "--env", "dev", "--endpoint", "tabular", "--json") == OK
    document = json.loads(capsys.readouterr().out)
    assert document["folders"] == [TABULAR + "churn/", TABULAR + "fraud/"]
    assert [(a["name"], a["container"], a["component"], a["verdict"]) for a in document["archives"]] == [
        ("model.tar.gz", None, "churn", "pending")
    ]


def test_validate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    valid = _archive(tmp_path, "good.tar.gz", good())
    assert _run("validate", str(valid), "--json") == OK
    assert json.loads(capsys.readouterr().out) == {
        "archive": str(valid),
        "layout": "flat",
        "valid": True,
        "problems": [],
        "entries": 2,
        "compressed_bytes": len(good()),
        "uncompressed_bytes": len(b'{"weights": [1.0], "bias": 0}') + len(b"print(1)\n"),
    }
    bad = _archive(tmp_path, "bad name.tar.gz", tar_gz([Entry("/abs", b"x")]))
    assert _run("validate", str(bad), "--json", "--layout", "mms") == INVALID
    document = json.loads(capsys.readouterr().out)
    assert (document["valid"], document["layout"]) == (False, "mms")
    assert document["problems"] == [
        {"rule": "key-characters", "message": "'bad name.tar.gz' has whitespace or unprintable characters"},
        {"rule": "absolute-path", "message": "'/abs' is an absolute path"},
    ]


def test_validate_json_prints_nothing_on_stdout_for_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("validate", str(tmp_path / "missing.tar.gz"), "--json") == NOT_FOUND
    out = capsys.readouterr()
    assert (out.out, out.err.startswith("error: ")) == ("", True)


# -- progress bars -------------------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    """stderr as a terminal."""

    def isatty(self) -> bool:
        return True


def _terminal(monkeypatch: pytest.MonkeyPatch) -> _Terminal:
    """stderr a terminal, bars drawn at once. Called in the test itself: pytest sets its own capturing stderr
    between a fixture's set-up and the test."""
    stream = _Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(progress, "DELAY", 0)
    return stream


def _model_folder(tmp_path: Path) -> Path:
    source = tmp_path / "model"
    source.mkdir()
    (source / "model.json").write_text("{}" * 100_000)
    return source


def test_package_and_validate_draw_bars_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _terminal(monkeypatch)
    out = tmp_path / "m.tar.gz"
    assert _run("package", str(_model_folder(tmp_path)), "-o", str(out)) == OK
    assert _run("validate", str(out)) == OK
    drawn = terminal.getvalue()
    assert "packaging m.tar.gz" in drawn
    assert drawn.count("checking m.tar.gz") > 1  # once after packaging, once by validate
    assert "B/s" in drawn


def test_no_bars_with_quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _terminal(monkeypatch)
    out = tmp_path / "m.tar.gz"
    assert _run("package", str(_model_folder(tmp_path)), "-o", str(out), "--quiet") == OK
    assert _run("validate", str(out), "-q") == OK
    assert terminal.getvalue() == ""


def test_no_bars_off_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "DELAY", 0)
    out = tmp_path / "m.tar.gz"
    assert _run("package", str(_model_folder(tmp_path)), "-o", str(out)) == OK
    assert _run("validate", str(out)) == OK
    assert capsys.readouterr().err == ""


def test_upload_draws_a_bar_on_a_terminal(aws: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _terminal(monkeypatch)
    archive = _archive(tmp_path, "Chicago_IL.tar.gz", good())
    assert _run("upload", str(archive), "--env", "dev", "--endpoint", "home-values", "--wait", "0") == OK
    assert "uploading Chicago_IL.tar.gz" in terminal.getvalue()
    assert aws["s3"].head_object(Bucket=BUCKET, Key=PREFIX + "Chicago_IL.tar.gz")["ContentLength"] == len(good())


def test_package_names_what_it_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _model_folder(tmp_path)
    assert _run("package", str(source), "-o", str(source / "v1.tar.gz")) == OK
    assert _run("package", str(source), "-o", str(source / "v2.tar.gz")) == OK
    out = capsys.readouterr()
    assert out.err == "left out v1.tar.gz: an archive modelctl package wrote, not part of the model\n"
    assert out.out.splitlines()[-1].startswith(f"wrote {source / 'v2.tar.gz'} (")


# -- loadtest: connections, retries, throttling ----------------------------------------------------------------------


class _Raw:
    """The raw body of a canned HTTP response."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


class _Throttling:
    """Answers the first ``count`` InvokeEndpoint attempts with SageMaker's throttling error (HTTP 400
    ThrottlingException), before moto sees them; the others go on to moto."""

    def __init__(self, count: int) -> None:
        self.left = count
        self.lock = threading.Lock()

    def __call__(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        with self.lock:
            if self.left <= 0:
                return None
            self.left -= 1
        headers = {"x-amzn-ErrorType": "ThrottlingException:", "Content-Type": "application/json"}
        return AWSResponse(request.url, 400, headers, _Raw(b'{"message": "Rate exceeded"}'))


def _loadtest(tmp_path: Path, throttling: _Throttling, *options: str) -> tuple[int, list[Any]]:
    made: list[Any] = []

    def clients(service: str, region: str | None, config: Any = None) -> Any:
        client = _clients(service, region, config)
        if service == "sagemaker-runtime":
            client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", throttling)
            made.append(client)
        return client

    body = _archive(tmp_path, "row.csv", b"1,2,3")
    argv = ["loadtest", "--env", "dev", "--endpoint", "home-values", "--models", "A.tar.gz", "--body", str(body)]
    return main([*argv, *options], clients=clients), made


@pytest.mark.usefixtures("aws")
def test_loadtest_keeps_a_connection_per_request_in_flight_and_counts_throttling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _queue_answers("[1.0]")
    status, (runtime,) = _loadtest(tmp_path, _Throttling(3), "--concurrency", "12", "--requests", "6")
    assert runtime.meta.config.max_pool_connections == 12
    assert runtime.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert runtime.meta.config.read_timeout == 70
    # Each throttled attempt was retried once, and succeeded.
    assert status == OK
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:3] == ["A.tar.gz", "6", "0"]
    assert (
        out[-1]
        == "throttled: 3 response(s), retried ones included (2 attempts a request; requests still failing are counted above)"
    )


@pytest.mark.usefixtures("aws")
def test_loadtest_reports_requests_throttled_to_the_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _queue_answers("[1.0]")
    status, (runtime,) = _loadtest(tmp_path, _Throttling(4), "--concurrency", "1", "--requests", "2")
    assert runtime.meta.config.max_pool_connections == 10  # botocore's default, the least kept
    assert status == INVALID
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:3] == ["A.tar.gz", "2", "2"]
    assert "    2 x ThrottlingException" in out
    assert out[-1].startswith("throttled: 4 response(s)")


@pytest.mark.usefixtures("aws")
def test_an_upload_without_a_verdict_in_time_has_a_status_of_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _archive(tmp_path, "Lonely.tar.gz", good())  # no guard runs: no verdict comes
    assert _run("upload", str(archive), "--env", "dev", "--endpoint", "home-values", "--wait", "0.2") == NO_VERDICT
    out = capsys.readouterr()
    assert f"uploaded s3://{BUCKET}/{PREFIX}Lonely.tar.gz" in out.out
    assert out.err == "no verdict from the artifact guard within 0.2 s: check with modelctl list\n"


@pytest.mark.usefixtures("aws")
def test_loadtest_needs_a_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = _archive(tmp_path, "row.csv", b"1")
    argv = ["loadtest", "--env", "dev", "--endpoint", "home-values", "--models", ",", "--body", str(body)]
    assert main(argv, clients=_clients) == USAGE
    assert capsys.readouterr().err == "error: --models ',': name at least one TargetModel\n"
