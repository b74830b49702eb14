"""ArtifactGuard and validated-only loading, as deployed in every stage: in the ModelStore, beside its bucket."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from constructs_lib import ModelPrefix, ValidationError
from constructs_lib.artifact_guard import ArtifactGuard
from hosting_contract.served_prefix import ServedPrefix
from tests import examples
from tests.support import S3_ACTIONS, Synthesis

#: The stage these tests read: the guard is the same in every stage (the stages tests check each).
STAGE = examples.NAMES[-1]


def _stack(synthesis: Synthesis, name: str = STAGE, *, hosting: bool = False) -> dict[str, Any]:
    stage = synthesis.stage(name)
    return synthesis.resources(stage.hosting if hosting else stage.model_store)


def _hosting(synthesis: Synthesis, name: str = STAGE) -> dict[str, Any]:
    return _stack(synthesis, name, hosting=True)


def test_the_guard_exists_once_the_model_store_is_deployed(synthesis: Synthesis) -> None:
    # Archives must be uploaded and judged before Hosting's CreateModel reads them: the guard is the bucket's.
    for stage in synthesis.stages:
        # Hosting's only rule is the scaling guard's, on its own stack's rollback.
        rules = synthesis.resources(stage.hosting, "AWS::Events::Rule").values()
        assert [r["Properties"]["EventPattern"]["source"] for r in rules] == [["aws.cloudformation"]]
        assert (
            stage.model_store.artifact_guard.function.node.path
            == f"{stage.node.id}/ModelStore/ArtifactGuard/Handler/Function"
        )


def test_uploads_under_models_reach_the_guard(synthesis: Synthesis) -> None:
    resources = _stack(synthesis)
    (rule,) = [r for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [{"Ref": "ArtifactsBucket88671897"}]},
            "object": {"key": [{"prefix": "models/"}]},
        },
    }
    target = rule["Properties"]["Targets"][0]
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 21600, "MaximumRetryAttempts": 8}
    assert "DeadLetterConfig" in target


@pytest.mark.parametrize("name", examples.NAMES)
def test_eventbridge_may_put_undelivered_uploads_into_the_encrypted_dead_letter_queue(
    synthesis: Synthesis, name: str
) -> None:
    resources = _stack(synthesis, name)
    (rule_id,) = [k for k, r in resources.items() if r["Type"] == "AWS::Events::Rule"]
    rule = resources[rule_id]["Properties"]
    queue_arn = rule["Targets"][0]["DeadLetterConfig"]["Arn"]
    (queue_id, _) = queue_arn["Fn::GetAtt"]
    key_id = resources[queue_id]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    statements = [
        st
        for st in resources[key_id]["Properties"]["KeyPolicy"]["Statement"]
        if st.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    (statement,) = statements
    assert set(statement["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    # The SQS Developer Guide ("Amazon SQS Key management") documents aws:SourceArn for EventBridge sending to an
    # encrypted queue, and no aws:SourceAccount; the SNS guide says EventBridge sends neither to encrypted topics.
    # A condition on a key the request lacks would refuse every dead letter: the rule's exact ARN, nothing else.
    stage = synthesis.stage(name)
    rule_arn = f"arn:aws:events:{stage.region}:{stage.account}:rule/{rule['Name']}"
    assert statement["Condition"] in (
        {"ArnEquals": {"aws:SourceArn": rule_arn}},
        {"ArnEquals": {"aws:SourceArn": [rule_arn]}},
    ), statement["Condition"]


@pytest.mark.parametrize("name", examples.NAMES)
def test_undeliverable_dead_letters_raise_an_alarm(synthesis: Synthesis, name: str) -> None:
    # A dead letter EventBridge cannot put into the queue never reaches it: the queue's alarm cannot see it, the
    # rule's InvocationsFailedToBeSentToDlq does ("Monitoring Amazon EventBridge", AWS/Events, RuleName).
    resources = _stack(synthesis, name)
    (rule_id,) = [k for k, r in resources.items() if r["Type"] == "AWS::Events::Rule"]
    (topic_id,) = [k for k, r in resources.items() if r["Type"] == "AWS::SNS::Topic"]
    (alarm,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("MetricName") == "InvocationsFailedToBeSentToDlq"
    ]
    # RuleName alone names a rule of the default event bus ("Monitoring Amazon EventBridge").
    assert "EventBusName" not in resources[rule_id]["Properties"]
    assert alarm["Namespace"] == "AWS/Events"
    assert alarm["Dimensions"] == [{"Name": "RuleName", "Value": {"Ref": rule_id}}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == ("Sum", 0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_the_bucket_sends_events_to_eventbridge(synthesis: Synthesis) -> None:
    store = synthesis.stage(STAGE).model_store
    bucket = synthesis.resources(store)["ArtifactsBucket88671897"]["Properties"]
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    assert not synthesis.resources(store, "Custom::S3BucketNotifications")


def test_guard_function_configuration(synthesis: Synthesis) -> None:
    resources = _stack(synthesis)
    function = next(
        r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function" and k.startswith("ArtifactGuard")
    )["Properties"]
    environment = function["Environment"]["Variables"]
    # Each container's folder carries the layout its image loads: TensorFlow Serving's for the TF container.
    assert json.loads(environment["SERVED_PREFIXES"]) == examples.served_prefixes(synthesis.stage(STAGE).config)
    assert environment["BUCKET_NAME"] == {"Ref": "ArtifactsBucket88671897"}
    assert environment["MAX_UNCOMPRESSED_BYTES"] == str(50 * 1024**3)
    assert function["Timeout"] == 900
    assert "DeadLetterConfig" in function


def test_guard_may_not_delete_versions(synthesis: Synthesis) -> None:
    resources = _stack(synthesis)
    policy = next(
        r for k, r in resources.items() if r["Type"] == "AWS::IAM::Policy" and k.startswith("ArtifactGuardHandlerRole")
    )
    actions = [
        a
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for a in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    ]
    assert "s3:DeleteObject" in actions
    assert not [a for a in actions if a.startswith("s3:DeleteObjectVersion") or a in ("s3:*", "s3:PutBucketVersioning")]


def test_execution_roles_read_only_valid_archives(synthesis: Synthesis) -> None:
    resources = _hosting(synthesis)
    for endpoint in examples.endpoints(synthesis.stage(STAGE).config):
        role_prefix = f"{examples.construct_id(endpoint.name)}ExecutionRole"
        policy = next(r for k, r in resources.items() if r["Type"] == "AWS::IAM::Policy" and k.startswith(role_prefix))
        reads = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "s3:GetObject"]
        assert reads, role_prefix
        for statement in reads:
            assert statement["Condition"] == {"StringEquals": {"s3:ExistingObjectTag/guard-verdict": "valid"}}


def test_the_lambda_asset_carries_the_shared_rules(synthesis: Synthesis) -> None:
    archives = list(synthesis.outdir.rglob("asset.*/hosting_contract/archive_rules.py"))
    assert archives, "the guard's asset has no hosting_contract/archive_rules.py"
    source = Path(__file__).resolve().parents[2] / "hosting_contract" / "archive_rules.py"
    assert all(not p.is_symlink() and p.read_text() == source.read_text() for p in archives)


def test_prefixes_are_validated() -> None:
    stack = cdk.Stack()
    kwargs: dict[str, Any] = {
        "bucket": s3.Bucket.from_bucket_name(stack, "B", "bucket-b"),
        "encryption_key": kms.Key(stack, "K"),
        "topic": sns.Topic(stack, "T"),
        "queue_key": kms.Key(stack, "Q"),
    }
    with pytest.raises(ValidationError, match=r"prefix 'other/x/' must be under 'models/'"):
        ArtifactGuard(stack, "G1", prefixes=[ServedPrefix(prefix="other/x/", endpoint_name="x")], **kwargs)
    with pytest.raises(ValidationError, match=r"layout of models/x/ 'zip' must be one of flat, "):
        ArtifactGuard(
            stack, "G2", prefixes=[ServedPrefix(prefix="models/x/", endpoint_name="x", layout="zip")], **kwargs
        )
    # An imported bucket's policy cannot be changed from here: verdicts could not be reserved to the guard.
    with pytest.raises(ValidationError, match=r"bucket 'bucket-b' is imported: build the guard in the bucket's stack"):
        ArtifactGuard(stack, "G3", prefixes=[ServedPrefix(prefix="models/x/", endpoint_name="x")], **kwargs)


def _bucket_policy(synthesis: Synthesis, name: str) -> list[dict[str, Any]]:
    resources = _stack(synthesis, name)
    (policy,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": "ArtifactsBucket88671897"}
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


@pytest.mark.parametrize("name", examples.NAMES)
def test_only_the_guard_may_write_verdicts(synthesis: Synthesis, name: str) -> None:
    # Every way S3 lets a principal set a tag on an object under models/ (Service Authorization Reference,
    # "Actions, resources, and condition keys for Amazon S3"): the tagging actions and their Version variants,
    # PutObject carrying x-amz-tagging (s3:RequestObjectTagKeys), and a copy, which copies the source's tags by
    # default (s3:x-amz-copy-source). IAM matches condition key names case-insensitively, so no tag at all.
    served = {"Fn::Join": ["", [{"Fn::GetAtt": ["ArtifactsBucket88671897", "Arn"]}, "/models/*"]]}
    not_the_guard = {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["ArtifactGuardHandlerRole54413CED", "Arn"]}}}
    statements = {s.get("Sid"): s for s in _bucket_policy(synthesis, name)}
    assert statements["OnlyTheArtifactGuardTagsModels"] == {
        "Sid": "OnlyTheArtifactGuardTagsModels",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": [
            "s3:DeleteObjectTagging",
            "s3:DeleteObjectVersionTagging",
            "s3:PutObjectTagging",
            "s3:PutObjectVersionTagging",
        ],
        "Resource": served,
        "Condition": not_the_guard,
    }
    assert statements["NoTagsOnModelUploads"] == {
        "Sid": "NoTagsOnModelUploads",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:PutObject",
        "Resource": served,
        "Condition": {**not_the_guard, "Null": {"s3:RequestObjectTagKeys": "false"}},
    }
    assert statements["NoReplicationIntoModels"] == {
        "Sid": "NoReplicationIntoModels",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": ["s3:ReplicateObject", "s3:ReplicateTags"],
        "Resource": served,
        "Condition": not_the_guard,
    }
    assert statements["NoCopiesIntoModels"] == {
        "Sid": "NoCopiesIntoModels",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:PutObject",
        "Resource": served,
        "Condition": {**not_the_guard, "Null": {"s3:x-amz-copy-source": "false"}},
    }
    # No statement of the policy allows anyone to tag under models/ (the guard's rights are its role's own).
    for statement in statements.values():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow":
            assert not [a for a in actions if "Tagging" in a or a in ("s3:*", "s3:Put*")], statement


def test_required_tag_condition_on_a_prefix() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    from aws_cdk import aws_iam as iam

    role = iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    ModelPrefix(
        bucket=s3.Bucket.from_bucket_name(stack, "B", "bucket-b"),
        prefix="models/x/",
        required_tag=("guard-verdict", "valid"),
    ).grant_read(role)
    statements = next(iter(Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()))["Properties"][
        "PolicyDocument"
    ]["Statement"]
    assert statements[0]["Condition"] == {"StringEquals": {"s3:ExistingObjectTag/guard-verdict": "valid"}}
    assert "Condition" in statements[1]  # ListBucket stays limited by s3:prefix only
    assert statements[1]["Condition"] == {"StringLike": {"s3:prefix": ["models/x/*"]}}


def test_lambda_folders_hold_no_links_and_each_asset_bundles_its_shared_modules(synthesis: Synthesis) -> None:
    # A link would not survive a checkout on every platform, nor a wheel; the assets copy the shared files.
    from constructs_lib.hardened_function import CONTRACT, FUNCTIONS_DIR, SHARED_MODULES

    assert [p for p in FUNCTIONS_DIR.rglob("*") if p.is_symlink()] == []
    assert [p for p in CONTRACT.rglob("*") if p.is_symlink()] == []
    assembly = synthesis.outdir
    for function, shared in SHARED_MODULES.items():
        handlers = [p.parent for p in assembly.rglob("asset.*/handler.py") if (p.parent / f"{function}.py").exists()]
        assert handlers, f"no asset of {function}"
        for asset in handlers:
            for module in shared:
                # A shared package is copied whole, as a package folder: its Python files, nothing else.
                sources = sorted(module.rglob("*.py")) if module.is_dir() else [module]
                for source in sources:
                    copy = asset / source.relative_to(module.parent)
                    assert copy.read_text() == source.read_text(), (function, copy)
                if module.is_dir():
                    copied = {p.relative_to(asset) for p in (asset / module.name).rglob("*") if p.is_file()}
                    assert copied == {s.relative_to(module.parent) for s in sources}, function


def _denied(statements: list[dict[str, Any]], action: str, key: str, context: dict[str, str | None]) -> bool:
    """Whether an explicit Deny of the bucket policy matches, evaluated as IAM does for these operators
    (IAM User Guide, "IAM JSON policy elements: Condition operators": ArnNotEquals, and Null, whose "true"
    matches an absent key and "false" a present one)."""
    import fnmatch

    for statement in statements:
        if statement["Effect"] != "Deny":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if action not in actions or not fnmatch.fnmatchcase(key, "models/*"):
            continue
        held = True
        for operator, pairs in statement.get("Condition", {}).items():
            for name, wanted in pairs.items():
                value = context.get(name)
                if operator == "ArnNotEquals":
                    held &= value != "GUARD"  # the guard's role ARN, as the template references it
                elif operator == "Null":
                    held &= (value is None) == (wanted == "true")
                else:
                    held = False
        if held:
            return True
    return False


def test_the_verdict_reservation_as_iam_evaluates_it(synthesis: Synthesis) -> None:
    statements = [s for s in _bucket_policy(synthesis, STAGE) if "Sid" in s]
    uploader: dict[str, str | None] = {"aws:PrincipalArn": "arn:aws:iam::333333333333:role/ml-engineer"}
    guard: dict[str, str | None] = {"aws:PrincipalArn": "GUARD"}
    key = "models/any-endpoint/any-model.tar.gz"
    # modelctl's upload: no tags, no copy source: not denied.
    assert not _denied(statements, "s3:PutObject", key, uploader)
    # Every way to make an object under models/ carry a verdict, by anyone but the guard: denied.
    assert _denied(statements, "s3:PutObject", key, {**uploader, "s3:RequestObjectTagKeys": "guard-verdict"})
    assert _denied(statements, "s3:PutObject", key, {**uploader, "s3:x-amz-copy-source": "bucket/models/x.tar.gz"})
    for action in ("s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:DeleteObjectTagging", "s3:ReplicateTags"):
        assert _denied(statements, action, key, uploader), action
        assert not _denied(statements, action, key, guard), action
    # Outside models/ (the guard's quarantine copy) nothing is reserved.
    assert not _denied(statements, "s3:PutObject", "quarantine/" + key, {**uploader, "s3:x-amz-copy-source": "x"})


def _guard_calls(s3_client: Any, record: list[tuple[str, str]], bucket: str) -> None:
    """Record (IAM action, object ARN) for every S3 request ``s3_client`` makes."""

    def one(params: dict[str, Any], model: Any, **_: Any) -> None:
        key = f"arn:aws:s3:::{bucket}/{params['Key']}"
        if model.name == "CopyObject" or model.name == "UploadPartCopy":
            # CopyObject: read the source (with its tags, TaggingDirective COPY), write the destination and its tags.
            source = params["CopySource"]
            source_arn = f"arn:aws:s3:::{source['Bucket']}/{source['Key']}"
            versioned = "VersionId" in source
            record.append(("s3:GetObjectVersion" if versioned else "s3:GetObject", source_arn))
            if model.name == "CopyObject":
                record.append(("s3:GetObjectVersionTagging" if versioned else "s3:GetObjectTagging", source_arn))
                record.append(("s3:PutObjectTagging", key))
            record.append(("s3:PutObject", key))
            return
        plain, versioned_action = S3_ACTIONS[model.name]
        record.append((versioned_action if params.get("VersionId") else plain, key))

    s3_client.meta.events.register("before-parameter-build.s3.*", one)


def _resolved(value: Any, bucket: str) -> Any:
    """A policy Resource with the artifact bucket's ARN and the partition filled in; other references as they are."""
    if isinstance(value, dict) and value.get("Fn::GetAtt") == ["ArtifactsBucket88671897", "Arn"]:
        return f"arn:aws:s3:::{bucket}"
    if isinstance(value, dict) and value == {"Ref": "AWS::Partition"}:
        return "aws"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        resolved = [_resolved(part, bucket) for part in parts]
        return separator.join(resolved) if all(isinstance(p, str) for p in resolved) else value
    return value


def test_the_guard_s_role_allows_every_s3_call_of_its_verdicts_and_quarantines(
    synthesis: Synthesis, moto: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto does not evaluate IAM: every S3 request the guard makes while judging a valid archive, rejecting one
    # (copied in one request and in parts) and pinning an event without a version is recorded and asked of the
    # role's policy as synthesized. A rejection once failed on the quarantine copy's tags (GetObjectTagging):
    # the event went to the dead-letter queue and the archive stayed current under models/.
    from hosting_contract.archive_rules import Limits
    from tests.modelctl.archives import good
    from tests.support import as_list, lambda_module, policy_allows

    guard_module = lambda_module("artifact_guard", "artifact_guard")
    bucket, prefix = "artifacts", "models/an-endpoint/"
    resources = _stack(synthesis)
    (policy,) = [
        r
        for k, r in resources.items()
        if r["Type"] == "AWS::IAM::Policy" and k.startswith("ArtifactGuardHandlerRoleDefaultPolicy")
    ]
    statements = [
        {**statement, "Resource": [_resolved(r, bucket) for r in as_list(statement["Resource"])]}
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    uploader, client = moto.client("s3"), moto.client("s3")
    uploader.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": moto.region})
    uploader.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    asked: list[tuple[str, str]] = []
    _guard_calls(client, asked, bucket)
    part_copies: list[str] = []
    client.meta.events.register("before-parameter-build.s3.UploadPartCopy", lambda **_: part_copies.append("part"))
    guard = guard_module.Guard(
        s3=client,
        bucket=bucket,
        prefixes=[ServedPrefix(prefix=prefix, endpoint_name="an-endpoint")],
        limits=Limits(),
        notify=lambda *_: None,
        emit=lambda _: None,
    )

    def event(key: str, body: bytes, *, versioned: bool = True) -> dict[str, Any]:
        version = uploader.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
        named = {"version-id": version} if versioned else {}
        return {"detail": {"bucket": {"name": bucket}, "object": {"key": key, **named}}}

    assert guard.handle(event(prefix + "Good.tar.gz", good())).action == "valid"
    assert guard.handle(event(prefix + "Bad.tar.gz", b"not an archive")).action == "rejected"
    assert guard.handle(event(prefix + "Pinned.tar.gz", good(), versioned=False)).action == "valid"
    monkeypatch.setattr(guard_module, "_SINGLE_COPY_LIMIT", 1024)
    assert guard.handle(event(prefix + "Big.tar.gz", b"\0" * (9 * 1024 * 1024))).action == "rejected"
    assert part_copies  # the multipart copy's requests were asked too
    assert sorted({call for call in asked if not policy_allows(statements, *call, {})}) == []
