"""modelctl retire: a multi-model endpoint's model hidden behind a delete marker (never destroyed, restorable with
the printed command), a smoke-test canary refused, and nothing done when it cannot tell."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest

from hosting_contract import ssm_paths
from modelctl import preflight
from modelctl.cli import NOT_FOUND, OK, USAGE, main
from tests.modelctl.archives import good
from tests.support import S3_ACTIONS, Moto, mocked_clients

BUCKET = "sagemaker-models-dev-111111111111-eu-west-1"
PREFIX = "models/dev-home-values/"
MNIST = "models/dev-mnist/"
CANARY = "Chicago_IL.tar.gz"
RETIRE = ["retire", "--env", "dev", "--endpoint", "home-values"]


@pytest.fixture
def s3(moto: Moto) -> Any:
    s3 = moto.model_store("dev", BUCKET, {name: _catalog()[name] for name in ("dev-home-values", "dev-mnist")})
    for model in ("Old_IL.tar.gz", CANARY):
        version = s3.put_object(Bucket=BUCKET, Key=PREFIX + model, Body=good())["VersionId"]
        tags = [{"Key": "guard-verdict", "Value": "valid"}, {"Key": "guard-version", "Value": version}]
        s3.put_object_tagging(Bucket=BUCKET, Key=PREFIX + model, Tagging={"TagSet": tags})
    return s3


def _catalog() -> dict[str, str]:
    return {
        "dev-home-values": json.dumps({"endpoint": "dev-home-values", "kind": "multi-model", "prefix": PREFIX}),
        "dev-mnist": json.dumps(
            {
                "endpoint": "dev-mnist",
                "kind": "multi-container",
                "prefix": MNIST,
                "containers": {"tf": {"key": MNIST + "tf/model.tar.gz", "layout": "tensorflow"}},
            }
        ),
    }


def _assembly(root: Path, *, environment: str = "dev") -> Path:
    """A cloud assembly of one stage of ``environment``: its catalog, and a smoke test whose canary is CANARY."""
    stage = root / "cdk.out" / "assembly-Dev"
    stage.mkdir(parents=True)
    store = {
        "Resources": {
            f"Catalog{i}": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": ssm_paths.artifacts_parameter(environment, name), "Value": value},
            }
            for i, (name, value) in enumerate(_catalog().items())
        }
    }
    hosting = {
        "Resources": {
            "HomeValuesSmokeTest": {
                "Type": "Custom::SageMakerSmokeTest",
                "Properties": {
                    "EndpointName": "dev-home-values",
                    "Invocations": [{"TargetModel": CANARY, "ContentType": "text/csv", "Body": "1,2"}],
                },
            }
        }
    }
    artifacts = {}
    for name, template in (("DevModelStore", store), ("DevHosting", hosting)):
        (stage / f"{name}.template.json").write_text(json.dumps(template))
        artifacts[name] = {"type": "aws:cloudformation:stack", "properties": {"templateFile": f"{name}.template.json"}}
    (stage / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    return stage.parent


_clients = mocked_clients


def _retire(*argv: str) -> int:
    return main([*RETIRE, *argv], clients=_clients)


def _versions(s3: Any, key: str) -> tuple[list[str], list[str]]:
    """(version ids, delete marker ids) of ``key``."""
    listing = s3.list_object_versions(Bucket=BUCKET, Prefix=key)
    versions = [v["VersionId"] for v in listing.get("Versions", []) if v["Key"] == key]
    markers = [m["VersionId"] for m in listing.get("DeleteMarkers", []) if m["Key"] == key]
    return versions, markers


def test_a_retired_model_is_hidden_kept_and_restorable(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = PREFIX + "Old_IL.tar.gz"
    (version,), _ = _versions(s3, key)
    assert _retire("--model", "Old_IL.tar.gz", "--assembly", str(_assembly(tmp_path))) == OK
    out = capsys.readouterr().out.splitlines()
    versions, (marker,) = _versions(s3, key)
    assert versions == [version]  # nothing destroyed
    assert out[0] == f"retired s3://{BUCKET}/{key}: a delete marker hides version {version} (kept, not destroyed)"
    assert out[1].startswith("SageMaker: instances that loaded Old_IL.tar.gz keep serving it")
    command = out[-1].strip()
    assert command == f"aws s3api delete-object --bucket {BUCKET} --key {key} --version-id {marker}"
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=BUCKET, Key=key)
    assert main(["list", "--env", "dev", "--endpoint", "home-values"], clients=_clients) == OK
    assert "Old_IL.tar.gz" not in capsys.readouterr().out
    # The printed command, as the AWS CLI would run it: the version is current again, verdict and all.
    words = shlex.split(command)
    s3.delete_object(
        Bucket=words[words.index("--bucket") + 1],
        Key=words[words.index("--key") + 1],
        VersionId=words[words.index("--version-id") + 1],
    )
    assert s3.head_object(Bucket=BUCKET, Key=key)["VersionId"] == version
    assert main(["list", "--env", "dev", "--endpoint", "home-values"], clients=_clients) == OK
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines() if "Old_IL" in line] == ["valid"]


def test_the_restore_command_names_the_region_given(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert _retire("--model", "Old_IL.tar.gz", "--skip-canary-check", "--region", "eu-west-1") == OK
    (marker,) = _versions(s3, PREFIX + "Old_IL.tar.gz")[1]
    assert capsys.readouterr().out.splitlines()[-1].endswith(f"--version-id {marker} --region eu-west-1")


def test_a_smoke_test_canary_is_refused(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _retire("--model", CANARY, "--assembly", str(_assembly(tmp_path))) == USAGE
    assert capsys.readouterr().err == (
        f"error: {CANARY} is a canary of dev-home-values's smoke test, which every deploy invokes: retiring it "
        "would fail the next deploy. Point the smoke test at another model in the configuration, deploy, then "
        "retire it\n"
    )
    assert _versions(s3, PREFIX + CANARY)[1] == []


def test_without_the_canaries_it_says_so_and_does_nothing(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _retire("--model", "Old_IL.tar.gz", "--assembly", str(tmp_path / "cdk.out")) == NOT_FOUND
    assert capsys.readouterr().err == (
        "error: cannot tell whether Old_IL.tar.gz is a smoke-test canary of dev-home-values: the artifact catalog "
        f"does not name canaries, the synthesized smoke tests do, and {tmp_path / 'cdk.out'} is not a cloud "
        "assembly: run make synth first (or pass --assembly); or pass --skip-canary-check if you know it is not "
        "one\n"
    )
    other = _assembly(tmp_path / "prod-only", environment="prod")
    assert _retire("--model", "Old_IL.tar.gz", "--assembly", str(other)) == NOT_FOUND
    assert f"and {other} holds no stage of environment 'dev': synthesize it first;" in capsys.readouterr().err
    assert _versions(s3, PREFIX + "Old_IL.tar.gz")[1] == []
    assert _retire("--model", "Old_IL.tar.gz", "--skip-canary-check") == OK
    assert len(_versions(s3, PREFIX + "Old_IL.tar.gz")[1]) == 1


def test_a_dry_run_changes_nothing(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = PREFIX + "Old_IL.tar.gz"
    (version,), _ = _versions(s3, key)
    assert _retire("--model", "Old_IL.tar.gz", "--assembly", str(_assembly(tmp_path)), "--dry-run") == OK
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"would retire s3://{BUCKET}/{key}: a delete marker would hide its current version {version}"
    assert _versions(s3, key) == ([version], [])


def test_a_model_that_is_not_there_is_not_found(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert _retire("--model", "Old_IL.tar.gz", "--skip-canary-check") == OK
    capsys.readouterr()
    for model in ("Old_IL.tar.gz", "Never_IL.tar.gz"):
        assert _retire("--model", model, "--skip-canary-check") == NOT_FOUND
        assert capsys.readouterr().err == (
            f"error: s3://{BUCKET}/{PREFIX}{model} is not there: already retired, or never uploaded "
            "(modelctl list --env ... --endpoint dev-home-values shows what is)\n"
        )
    assert len(_versions(s3, PREFIX + "Old_IL.tar.gz")[1]) == 1


def test_a_bucket_without_versioning_is_refused(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    assert _retire("--model", "Old_IL.tar.gz", "--skip-canary-check") == USAGE
    assert capsys.readouterr().err.startswith(
        f"error: s3://{BUCKET} has versioning Suspended: a delete would destroy the archive"
    )
    assert _versions(s3, PREFIX + "Old_IL.tar.gz")[1] == []


@pytest.mark.usefixtures("s3")
@pytest.mark.parametrize(
    ("endpoint", "model", "message"),
    [
        (
            "mnist",
            "model.tar.gz",
            "dev-mnist is a multi-container endpoint: retire takes a model of a multi-model endpoint; a container's "
            "or component's archive is named by the configuration (change it there, then deploy)",
        ),
        ("home-values", "Old_IL.zip", "--model 'Old_IL.zip': key-suffix: 'Old_IL.zip' does not end with .tar.gz"),
        (
            "home-values",
            "sub/Old_IL.tar.gz",
            "--model 'sub/Old_IL.tar.gz': a TargetModel names an archive right under the prefix",
        ),
    ],
)
def test_only_a_multi_model_endpoint_s_target_model_is_retired(
    capsys: pytest.CaptureFixture[str], endpoint: str, model: str, message: str
) -> None:
    argv = ["retire", "--env", "dev", "--endpoint", endpoint, "--model", model, "--skip-canary-check"]
    assert main(argv, clients=_clients) == USAGE
    assert capsys.readouterr().err == f"error: {message}\n"


def test_the_canaries_of_every_region_count(tmp_path: Path) -> None:
    assembly = _assembly(tmp_path)
    # The same environment's stage in another region, whose smoke test invokes another model.
    other = assembly / "assembly-Dev-eu-central-1"
    shutil.copytree(assembly / "assembly-Dev", other)
    hosting = json.loads((other / "DevHosting.template.json").read_text())
    hosting["Resources"]["HomeValuesSmokeTest"]["Properties"]["Invocations"][0]["TargetModel"] = "Berlin.tar.gz"
    (other / "DevHosting.template.json").write_text(json.dumps(hosting))
    assert preflight.canaries(assembly, "dev", "dev-home-values") == {CANARY, "Berlin.tar.gz"}
    assert preflight.canaries(assembly, "dev", "dev-mnist") == set()


def test_operations_md_gives_an_uploader_every_s3_action_modelctl_calls(
    s3: Any,  # noqa: ARG001 (the ModelStore with its archives)
    tmp_path: Path,
) -> None:
    # modelctl names no version. moto does not evaluate IAM: the S3 operations of an upload, a listing and a retirement are recorded and
    # their actions looked up in the uploader's permissions as OPERATIONS.md lists them. It once left out
    # s3:GetObject, which HeadObject needs: list, rescan and retire failed with 403.
    called: set[str] = set()

    def recording(service: str, region: str | None, config: Any = None) -> Any:
        client = mocked_clients(service, region, config)
        if service == "s3":
            client.meta.events.register("before-parameter-build.s3.*", lambda model, **_: called.add(model.name))
        return client

    archive = tmp_path / "New_IL.tar.gz"
    archive.write_bytes(good())
    main(["upload", str(archive), "--env", "dev", "--endpoint", "home-values", "--wait", "0"], clients=recording)
    assert main(["list", "--env", "dev", "--endpoint", "home-values"], clients=recording) == OK
    assembly = str(_assembly(tmp_path))
    assert main([*RETIRE, "--model", "Old_IL.tar.gz", "--assembly", assembly], clients=recording) == OK
    assert {"PutObject", "HeadObject", "DeleteObject"} <= called
    operations = (Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md").read_text()
    section = operations.split("**What an uploader needs**", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"`(s3:\w+)`", section))
    assert sorted({S3_ACTIONS[operation][0] for operation in called} - documented) == []
