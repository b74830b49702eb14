"""modelctl preflight on an endpoint of inference components: each component's archive is the ModelDataUrl of the
model its Specification.ModelName names, and the fix names the component (``--component``).

The cloud assembly is built by hand in the shape the templates take (PLAN of issue #12: an
``AWS::SageMaker::Model`` per component, with one archive, and an ``AWS::SageMaker::InferenceComponent`` naming it),
so that the test depends on that shape only, not on the construct that synthesizes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hosting_contract import ssm_paths
from modelctl import preflight
from modelctl.cli import INVALID, NOT_FOUND, OK, main
from tests.modelctl.archives import Entry, good, tar_gz
from tests.support import TABULAR_PREFIX, Moto, mocked_clients, tabular_artifacts

BUCKET = "sagemaker-models-dev-111111111111-eu-west-1"
TABULAR = TABULAR_PREFIX
CATALOG = tabular_artifacts()


def _model(key: str) -> dict[str, Any]:
    return {
        "Type": "AWS::SageMaker::Model",
        "Properties": {
            "ExecutionRoleArn": {"Fn::GetAtt": ["TabularRole", "Arn"]},
            "PrimaryContainer": {
                "Image": "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312",
                "ModelDataUrl": f"s3://{BUCKET}/{key}",
            },
        },
    }


def _component(name: Any, model: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::SageMaker::InferenceComponent",
        "Properties": {
            "InferenceComponentName": name,
            "EndpointName": {"Fn::GetAtt": ["TabularEndpoint", "EndpointName"]},
            "VariantName": "AllTraffic",
            "Specification": {
                "ModelName": model,
                "ComputeResourceRequirements": {"NumberOfCpuCoresRequired": 1, "MinMemoryRequiredInMb": 1024},
            },
            "RuntimeConfig": {"CopyCount": 1},
        },
    }


def _assembly(tmp_path: Path, *, extra: dict[str, Any] | None = None) -> Path:
    """A cloud assembly of one stage: its ModelStore (the catalog's parameter) and its Hosting (two components)."""
    stage = tmp_path / "cdk.out" / "assembly-Dev"
    stage.mkdir(parents=True)
    store = {
        "Resources": {
            "CatalogDevTabular": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": ssm_paths.artifacts_parameter("dev", "dev-tabular"),
                    "Type": "String",
                    "Value": CATALOG.to_json(),
                },
            }
        }
    }
    hosting = {
        "Resources": {
            "TabularChurnModel": _model(f"{TABULAR}churn/model.tar.gz"),
            "TabularChurn": _component("dev-tabular-churn", {"Fn::GetAtt": ["TabularChurnModel", "ModelName"]}),
            "TabularFraudModel": _model(f"{TABULAR}fraud/model.tar.gz"),
            "TabularFraud": _component(
                {"Fn::Join": ["-", [{"Ref": "AWS::StackName"}, "fraud"]]},
                {"Fn::GetAtt": ["TabularFraudModel", "ModelName"]},
            ),
            **(extra or {}),
        }
    }
    artifacts = {}
    for name, template in (("DevModelStore", store), ("DevHosting", hosting)):
        (stage / f"{name}.template.json").write_text(json.dumps(template))
        artifacts[name] = {
            "type": "aws:cloudformation:stack",
            "properties": {"templateFile": f"{name}.template.json"},
        }
    (stage / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    return stage.parent


def test_each_component_needs_the_archive_of_its_model(tmp_path: Path) -> None:
    needed = preflight.requirements(_assembly(tmp_path), "dev")
    assert [(r.needed_by, r.key, r.endpoint, r.component, r.container, r.layout) for r in needed] == [
        (
            "inference component dev-tabular-churn (model TabularChurnModel)",
            f"{TABULAR}churn/model.tar.gz",
            "dev-tabular",
            "churn",
            None,
            "flat",
        ),
        (
            # A name CloudFormation resolves: the component's logical id says which it is.
            "inference component TabularFraud (model TabularFraudModel)",
            f"{TABULAR}fraud/model.tar.gz",
            "dev-tabular",
            "fraud",
            None,
            "tensorflow",
        ),
    ]


def test_a_component_archive_missing_from_the_catalog_is_reported(tmp_path: Path) -> None:
    extra = {
        "TabularScoringModel": _model(f"{TABULAR}scoring/model.tar.gz"),
        "TabularScoring": _component("dev-tabular-scoring", {"Fn::GetAtt": ["TabularScoringModel", "ModelName"]}),
    }
    needed = preflight.requirements(_assembly(tmp_path, extra=extra), "dev")
    (finding,) = preflight.check(None, "dev", [r for r in needed if "scoring" in r.key])
    assert str(finding) == (
        f"not in the artifact catalog: s3://{BUCKET}/{TABULAR}scoring/model.tar.gz (needed by inference component "
        "dev-tabular-scoring (model TabularScoringModel))\n    fix: redeploy the ModelStore stack first (cdk deploy)"
    )


@pytest.fixture
def account(moto: Moto) -> Any:
    return moto.model_store("dev", BUCKET, {"dev-tabular": CATALOG.to_json()})


_clients = mocked_clients


def test_the_printed_fixes_upload_each_component_s_archive(
    account: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assembly = str(_assembly(tmp_path))
    assert main(["preflight", "--env", "dev", "--assembly", assembly], clients=_clients) == INVALID
    fixes = [line.split("fix: ", 1)[1] for line in capsys.readouterr().out.splitlines() if "fix: " in line]
    assert fixes == [
        "modelctl upload ARCHIVE.tar.gz --env dev --endpoint tabular --component churn --layout flat",
        "modelctl upload ARCHIVE.tar.gz --env dev --endpoint tabular --component fraud --layout tensorflow",
    ]
    archives = {
        "flat": tmp_path / "churn.tar.gz",
        "tensorflow": tmp_path / "fraud.tar.gz",
    }
    archives["flat"].write_bytes(good())
    archives["tensorflow"].write_bytes(tar_gz([Entry("1/saved_model.pb", b"pb")]))
    for fix in fixes:
        argv = fix.split()[1:]
        argv[argv.index("ARCHIVE.tar.gz")] = str(archives[argv[-1]])
        assert main([*argv, "--wait", "0"], clients=_clients) == OK
    capsys.readouterr()
    # Uploaded, not judged yet: the fix is a rescan of the endpoint (rescan takes no --component).
    assert main(["preflight", "--env", "dev", "--assembly", assembly], clients=_clients) == INVALID
    out = capsys.readouterr().out
    assert out.count("fix: wait for the artifact guard, or modelctl rescan --env dev --endpoint tabular\n") == 2
    for key in (f"{TABULAR}churn/model.tar.gz", f"{TABULAR}fraud/model.tar.gz"):
        version = account.head_object(Bucket=BUCKET, Key=key)["VersionId"]
        tags = [{"Key": "guard-verdict", "Value": "valid"}, {"Key": "guard-version", "Value": version}]
        account.put_object_tagging(Bucket=BUCKET, Key=key, Tagging={"TagSet": tags})
    assert main(["preflight", "--env", "dev", "--assembly", assembly], clients=_clients) == OK
    assert "2 of 2 archive(s) the dev stage needs are valid" in capsys.readouterr().out


def test_preflight_json(account: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assembly = str(_assembly(tmp_path))
    account.put_object(Bucket=BUCKET, Key=f"{TABULAR}churn/model.tar.gz", Body=good())
    version = account.head_object(Bucket=BUCKET, Key=f"{TABULAR}churn/model.tar.gz")["VersionId"]
    tags = [{"Key": "guard-verdict", "Value": "valid"}, {"Key": "guard-version", "Value": version}]
    account.put_object_tagging(Bucket=BUCKET, Key=f"{TABULAR}churn/model.tar.gz", Tagging={"TagSet": tags})
    assert main(["preflight", "--env", "dev", "--assembly", assembly, "--json"], clients=_clients) == INVALID
    document = json.loads(capsys.readouterr().out)
    assert document == {
        "environment": "dev",
        "assembly": assembly,
        "ready": False,
        "needed": 2,
        "valid": 1,
        "archives": [
            {
                "uri": f"s3://{BUCKET}/{TABULAR}churn/model.tar.gz",
                "bucket": BUCKET,
                "key": f"{TABULAR}churn/model.tar.gz",
                "needed_by": "inference component dev-tabular-churn (model TabularChurnModel)",
                "endpoint": "dev-tabular",
                "container": None,
                "component": "churn",
                "target_model": None,
                "layout": "flat",
                "state": "valid",
                "fix": None,
            },
            {
                "uri": f"s3://{BUCKET}/{TABULAR}fraud/model.tar.gz",
                "bucket": BUCKET,
                "key": f"{TABULAR}fraud/model.tar.gz",
                "needed_by": "inference component TabularFraud (model TabularFraudModel)",
                "endpoint": "dev-tabular",
                "container": None,
                "component": "fraud",
                "target_model": None,
                "layout": "tensorflow",
                "state": "missing",
                "fix": "modelctl upload ARCHIVE.tar.gz --env dev --endpoint tabular --component fraud --layout tensorflow",
            },
        ],
    }


def test_preflight_without_an_assembly_is_not_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "cdk.out"
    assert main(["preflight", "--env", "dev", "--assembly", str(missing), "--json"], clients=_clients) == NOT_FOUND
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == f"error: {missing} is not a cloud assembly: run make synth first (or pass --assembly)\n"


@pytest.mark.parametrize(
    ("requirement", "upload"),
    [
        (
            # A canary of a multi-model endpoint: its model is named by --as, and the old name is never reused.
            preflight.Requirement(
                needed_by="smoke test of dev-prices",
                bucket=BUCKET,
                key="models/dev-prices/Paris.tar.gz",
                endpoint="dev-prices",
                target_model="Paris.tar.gz",
            ),
            "modelctl upload ARCHIVE.tar.gz --env dev --endpoint prices --as NEW.tar.gz --layout flat",
        ),
        (
            # A component's archive: its key comes from the catalog once the configuration names a new one.
            preflight.Requirement(
                needed_by="inference component dev-tabular-churn",
                bucket=BUCKET,
                key=f"{TABULAR}churn/model.tar.gz",
                endpoint="dev-tabular",
                component="churn",
            ),
            "modelctl upload ARCHIVE.tar.gz --env dev --endpoint tabular --component churn --layout flat",
        ),
    ],
)
def test_a_removed_archive_is_replaced_under_a_new_name(
    account: Any, requirement: preflight.Requirement, upload: str
) -> None:
    # A rejected archive is quarantined and its key hidden by a delete marker (S3 versioning keeps the version).
    account.put_object(Bucket=BUCKET, Key=requirement.key, Body=good())
    account.delete_object(Bucket=BUCKET, Key=requirement.key)
    [finding] = preflight.check(account, "dev", [requirement])
    assert finding.state == "removed (rejected and quarantined, or deleted)"
    assert finding.fix.endswith(f", synthesize and deploy ModelStore, then {upload}")
