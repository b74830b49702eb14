"""A stage's first deploy into an empty account, in the documented order, against moto and the project's code.

1. ``cdk deploy <Stage>/ModelStore``: here, the ModelStore template's bucket, key and SSM parameters are
   created in moto from the synthesized template (values resolved as CloudFormation would);
2. ``modelctl preflight`` lists what Hosting needs and exits 1, each line with the command that fixes it;
3. each printed ``modelctl upload`` is run with a real archive; the artifact guard, configured exactly as the
   template configures its function, judges each upload as EventBridge would deliver it;
4. ``modelctl preflight`` exits 0;
5. ``cdk deploy <Stage>/Hosting``: what CreateModel checks of each container's ``ModelDataUrl`` (the archive
   is there, and the model's execution role may read it: SageMaker API Reference, ``ContainerDefinition``;
   "Could not find model data" otherwise), and what the smoke test will invoke, hold in moto.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from hosting_contract import served_prefix
from hosting_contract.guard_limits import GuardLimits
from modelctl.cli import main
from tests import examples
from tests.modelctl.archives import Entry, good, tar_gz
from tests.support import Synthesis, lambda_module, mocked_clients, policy_allows

guard_module = lambda_module("artifact_guard", "artifact_guard")
REGION = "eu-west-1"


_clients = mocked_clients


def _deploy_model_store(template: dict[str, Any]) -> dict[str, str]:
    """Create the template's bucket, key and SSM parameters in moto; returns logical id -> physical value."""
    resources = template["Resources"]
    physical: dict[str, str] = {}
    s3, kms, ssm = (boto3.client(s, region_name=REGION) for s in ("s3", "kms", "ssm"))
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::KMS::Key":
            physical[logical_id] = kms.create_key()["KeyMetadata"]["Arn"]
        elif resource["Type"] == "AWS::S3::Bucket" and "BucketName" in resource["Properties"]:
            name = resource["Properties"]["BucketName"]
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            physical[logical_id] = name
        elif resource["Type"] == "AWS::Lambda::Function":
            physical[logical_id] = f"fn-{logical_id}"

    def resolve(value: Any) -> str | None:
        if isinstance(value, str):
            return value
        if "Ref" in value:
            return physical.get(value["Ref"])
        if "Fn::GetAtt" in value:
            return physical.get(value["Fn::GetAtt"][0])
        return None  # e.g. the repository URI: not needed by this walk

    for resource in resources.values():
        if resource["Type"] == "AWS::SSM::Parameter":
            value = resolve(resource["Properties"]["Value"])
            if value is not None:
                ssm.put_parameter(Name=resource["Properties"]["Name"], Value=value, Type="String")
    return physical


def _guard_as_configured(template: dict[str, Any], physical: dict[str, str]) -> Any:
    """The guard with the environment its function has in the template (served prefixes, limits, bucket)."""
    (function,) = [
        r
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function" and k.startswith("ArtifactGuardHandler")
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    return guard_module.Guard(
        s3=boto3.client("s3", region_name=REGION),
        bucket=physical[variables["BUCKET_NAME"]["Ref"]],
        prefixes=served_prefix.decode(variables[served_prefix.ENVIRONMENT_VARIABLE]),
        limits=GuardLimits.from_environment(variables).archive_limits(),
        notify=lambda *_: None,
        emit=lambda _: None,
    )


class _EventBridge:
    """Delivers an "Object Created" event to the guard for every new object version, as the rule would."""

    def __init__(self, guard: Any, bucket: str) -> None:
        self.guard, self.bucket = guard, bucket
        self.seen: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        s3 = boto3.client("s3", region_name=REGION)
        while not self.stop.is_set():
            for version in s3.list_object_versions(Bucket=self.bucket, Prefix="models/").get("Versions", []):
                if version["VersionId"] not in self.seen:
                    self.seen.add(version["VersionId"])
                    detail = {
                        "bucket": {"name": self.bucket},
                        "object": {"key": version["Key"], "version-id": version["VersionId"]},
                    }
                    self.guard.handle({"detail-type": "Object Created", "detail": detail})
            time.sleep(0.02)

    def __enter__(self) -> _EventBridge:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def _archive_for(layout: str, folder: Path) -> Path:
    """A real archive in ``layout``, as an ML engineer would package it."""
    path = folder / f"{layout}-{len(list(folder.iterdir()))}.tar.gz"
    if layout == "tensorflow":
        path.write_bytes(
            tar_gz([Entry("1/saved_model.pb", b"saved model"), Entry("1/variables/variables.index", b"index")])
        )
    else:
        path.write_bytes(good())
    return path


def _can_read(statements: list[dict[str, Any]], arn: str, tags: dict[str, str]) -> bool:
    """IAM's answer for s3:GetObject on ``arn`` with the object's ``tags`` under these identity statements."""
    return policy_allows(statements, "s3:GetObject", arn, {f"s3:ExistingObjectTag/{k}": v for k, v in tags.items()})


#: The stage whose first deploy is walked: the first with canaries (their archives must be uploaded too).
FIRST_DEPLOY = examples.smoke_tested()[0]


# moto for the account; modelctl polling the verdict as fast as the stand-in EventBridge delivers it.
@pytest.mark.usefixtures("moto", "quick_verdicts")
def test_first_deploy_of_a_stage(synthesis: Synthesis, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stage = synthesis.stage(FIRST_DEPLOY)
    name = stage.config.name
    assembly = synthesis.outdir
    store_template = synthesis.template(stage.model_store)
    hosting_template = synthesis.template(stage.hosting)
    needed = examples.archives_to_upload(stage.config)

    # 1. ModelStore: the bucket exists with its guard; nothing of Hosting yet.
    physical = _deploy_model_store(store_template)
    bucket = stage.config.artifact_bucket_name

    # 2. Preflight: everything Hosting will read is missing, and each line says how to fix it.
    assert main(["preflight", "--env", name, "--assembly", str(assembly)], clients=_clients) == 1
    report = capsys.readouterr().out
    commands = re.findall(r"fix: (modelctl upload .*)", report)
    assert len(commands) == needed, report  # every container's archive, every multi-model canary's
    for mme in stage.config.multi_model_endpoints:
        for canary in {i.target_model for i in mme.smoke_tests}:
            assert f"--endpoint {mme.name} --as {canary} --layout {examples.layout(mme)}" in report
    for mce in stage.config.multi_container_endpoints:
        for container in mce.containers:
            layout = examples.layout(mce, container.hostname)
            assert f"--endpoint {mce.name} --container {container.hostname} --layout {layout}" in report

    # 3. Each printed command, run as printed, with an archive in the layout it names; the guard judges each.
    archives = tmp_path / "archives"
    archives.mkdir()
    with _EventBridge(_guard_as_configured(store_template, physical), bucket):
        for command in commands:
            layout = command.split("--layout ")[1].split()[0]
            argv = command.split()[1:]
            argv[argv.index("ARCHIVE.tar.gz")] = str(_archive_for(layout, archives))
            assert main([*argv, "--wait", "20"], clients=_clients) == 0, capsys.readouterr()
    uploads = capsys.readouterr().out
    assert uploads.count("guard verdict: valid") == needed

    # 4. Preflight is green.
    assert main(["preflight", "--env", name, "--assembly", str(assembly)], clients=_clients) == 0
    assert f"{needed} of {needed} archive(s) the {name} stage needs are valid" in capsys.readouterr().out

    # 5. Hosting: every container archive CreateModel reads exists and its execution role may read it.
    s3 = boto3.client("s3", region_name=REGION)
    resources = hosting_template["Resources"]
    checked = 0
    for model in (r for r in resources.values() if r["Type"] == "AWS::SageMaker::Model"):
        role_id = model["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
        statements = [
            s
            for r in resources.values()
            if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
            for s in r["Properties"]["PolicyDocument"]["Statement"]
        ]
        for container in model["Properties"].get("Containers", []):
            key = container["ModelDataUrl"].removeprefix(f"s3://{bucket}/")
            tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
            assert _can_read(statements, f"arn:aws:s3:::{bucket}/{key}", tags), key
            checked += 1
    assert checked == sum(len(e.containers) for e in stage.config.multi_container_endpoints)
    smoke = [r for r in resources.values() if r["Type"] == "Custom::SageMakerSmokeTest"]
    canaries = [
        (r["Properties"]["EndpointName"], i["TargetModel"])
        for r in smoke
        for i in r["Properties"]["Invocations"]
        if "TargetModel" in i
    ]
    assert canaries
    for endpoint, canary in canaries:
        assert s3.head_object(Bucket=bucket, Key=f"models/{endpoint}/{canary}")["ContentLength"] > 0


@pytest.mark.parametrize("name", examples.NAMES)
def test_a_role_cannot_read_an_archive_the_guard_did_not_pass(synthesis: Synthesis, name: str) -> None:
    # The same evaluation says no for an unjudged archive: CreateModel would fail, so preflight must be green first.
    stage = synthesis.stage(name)
    if not stage.config.multi_container_endpoints:
        pytest.skip(f"{name} has no multi-container endpoint")
    mce = stage.config.multi_container_endpoints[0]
    container = next(c for c in mce.containers if c.model_data_key)
    resources = synthesis.resources(stage.hosting)
    role_id = next(
        r["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
        for k, r in resources.items()
        if r["Type"] == "AWS::SageMaker::Model" and k.startswith(f"{examples.construct_id(mce.name)}Model")
    )
    statements = [
        s
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    key = f"{stage.config.endpoint_prefix(mce.name)}{container.model_data_key}"
    arn = f"arn:aws:s3:::{stage.config.artifact_bucket_name}/{key}"
    assert not _can_read(statements, arn, {})
    assert not _can_read(statements, arn, {"guard-verdict": "rejected"})
    assert _can_read(statements, arn, {"guard-verdict": "valid"})
    assert json.dumps(statements).count("s3:ExistingObjectTag/guard-verdict") >= 1
