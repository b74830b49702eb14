"""The artifact guard against moto S3: verdict tags, quarantine without loss, idempotence, warm-up."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from hosting_contract import archive_rules as rules
from hosting_contract.served_prefix import ServedPrefix
from tests.modelctl.archives import Entry, good, tar_gz
from tests.support import TABULAR_PREFIX, Moto, lambda_module

guard_module = lambda_module("artifact_guard", "artifact_guard")
BUCKET = "sagemaker-models-dev-111111111111-eu-west-1"
PREFIX = "models/dev-home-values/"


@pytest.fixture
def s3(moto: Moto) -> Any:
    client = moto.client("s3")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


class Recorder:
    def __init__(self) -> None:
        self.notes: list[tuple[str, str]] = []
        self.metrics: list[dict[str, Any]] = []


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def _guard(s3: Any, recorder: Recorder, runtime: Any = None, warm_up: bool = False) -> Any:
    return guard_module.Guard(
        s3=s3,
        runtime=runtime,
        bucket=BUCKET,
        prefixes=[ServedPrefix(prefix=PREFIX, endpoint_name="dev-home-values", warm_up=warm_up)],
        limits=rules.Limits(max_uncompressed_bytes=10 * 1024 * 1024),
        notify=lambda subject, message: recorder.notes.append((subject, message)),
        emit=recorder.metrics.append,
    )


def _put(s3: Any, key: str, data: bytes) -> dict[str, Any]:
    version = s3.put_object(Bucket=BUCKET, Key=key, Body=data)["VersionId"]
    return {"detail": {"bucket": {"name": BUCKET}, "object": {"key": key, "version-id": version}}}


def _tags(s3: Any, key: str, **version: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key=key, **version)["TagSet"]}


def test_a_valid_archive_is_tagged_valid(s3: Any, recorder: Recorder) -> None:
    outcome = _guard(s3, recorder).handle(_put(s3, PREFIX + "Chicago_IL.tar.gz", good()))
    assert outcome.action == "valid"
    version = s3.head_object(Bucket=BUCKET, Key=PREFIX + "Chicago_IL.tar.gz")["VersionId"]
    assert _tags(s3, PREFIX + "Chicago_IL.tar.gz") == {
        "guard-verdict": "valid",
        "guard-reason": "passed every rule",
        "guard-version": version,
    }
    assert recorder.notes == []
    assert recorder.metrics[0]["ValidArchives"] == 1
    assert recorder.metrics[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SageMakerHosting/ArtifactGuard"


def test_a_rejected_archive_is_quarantined_and_nothing_is_lost(s3: Any, recorder: Recorder) -> None:
    key = PREFIX + "Houston_TX.tar.gz"
    bad = tar_gz([Entry("../../escape.py", b"import os")])
    event = _put(s3, key, bad)
    outcome = _guard(s3, recorder).handle(event)
    assert outcome.action == "rejected"
    assert outcome.reason.startswith("path-escape")
    # Served prefix: the object is gone (a delete marker), every byte kept as a version.
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("KeyCount") == 0
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=key)
    assert len(versions["Versions"]) == 1
    assert len(versions["DeleteMarkers"]) == 1
    kept = s3.get_object(Bucket=BUCKET, Key=key, VersionId=event["detail"]["object"]["version-id"])["Body"].read()
    assert kept == bad
    # Quarantine: a copy with the verdict.
    quarantined = "quarantine/" + key
    assert s3.get_object(Bucket=BUCKET, Key=quarantined)["Body"].read() == bad
    assert _tags(s3, quarantined)["guard-verdict"] == "rejected"
    assert _tags(s3, quarantined)["guard-reason"].startswith("path-escape")
    assert len(recorder.notes) == 1
    assert quarantined in recorder.notes[0][1]
    assert recorder.metrics[0]["RejectedArchives"] == 1


def test_key_rules_reject_without_reading(s3: Any, recorder: Recorder) -> None:
    outcome = _guard(s3, recorder).handle(_put(s3, PREFIX + "Chicago IL.tar.gz", good()))
    assert (outcome.action, outcome.reason.split(":")[0]) == ("rejected", "key-characters")


def test_duplicate_events_are_handled_once(s3: Any, recorder: Recorder) -> None:
    event = _put(s3, PREFIX + "Chicago_IL.tar.gz", good())
    guard = _guard(s3, recorder)
    assert guard.handle(event).action == "valid"
    again = guard.handle(event)
    assert (again.action, again.reason) == ("skipped", "already valid (duplicate event)")
    assert len(recorder.metrics) == 1


def test_out_of_order_events_judge_their_own_version(s3: Any, recorder: Recorder) -> None:
    key = PREFIX + "Chicago_IL.tar.gz"
    old_bad = _put(s3, key, b"not an archive")
    new_good = _put(s3, key, good())
    guard = _guard(s3, recorder)
    assert guard.handle(new_good).action == "valid"
    assert guard.handle(old_bad).action == "rejected"
    # The newer, valid version is still served; the old one went to quarantine.
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == good()
    assert _tags(s3, key) == {
        "guard-verdict": "valid",
        "guard-reason": "passed every rule",
        "guard-version": new_good["detail"]["object"]["version-id"],
    }
    assert s3.get_object(Bucket=BUCKET, Key="quarantine/" + key)["Body"].read() == b"not an archive"


def test_a_pre_tagged_hostile_upload_ends_quarantined(s3: Any, recorder: Recorder) -> None:
    # The uploader claims the verdict itself (the bucket policy denies this in AWS; here it got through, as it
    # would for an object written before that policy existed). The guard judges what it did not write.
    key = PREFIX + "Forged.tar.gz"
    hostile = tar_gz([Entry("../../../etc/cron.d/x", b"* * * * * root sh")])
    version = s3.put_object(
        Bucket=BUCKET, Key=key, Body=hostile, Tagging="guard-verdict=valid&guard-reason=passed every rule"
    )["VersionId"]
    event = {"detail": {"bucket": {"name": BUCKET}, "object": {"key": key, "version-id": version}}}
    outcome = _guard(s3, recorder).handle(event)
    assert outcome.action == "rejected"
    assert _tags(s3, key, VersionId=version)["guard-verdict"] == "rejected"
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("KeyCount") == 0
    assert s3.get_object(Bucket=BUCKET, Key="quarantine/" + key)["Body"].read() == hostile


def test_a_copied_verdict_names_another_version_and_is_judged_again(s3: Any, recorder: Recorder) -> None:
    source = _put(s3, PREFIX + "Chicago_IL.tar.gz", good())
    guard = _guard(s3, recorder)
    assert guard.handle(source).action == "valid"
    copy = s3.copy_object(
        Bucket=BUCKET, Key=PREFIX + "Copy.tar.gz", CopySource={"Bucket": BUCKET, "Key": PREFIX + "Chicago_IL.tar.gz"}
    )
    event = {
        "detail": {
            "bucket": {"name": BUCKET},
            "object": {"key": PREFIX + "Copy.tar.gz", "version-id": copy["VersionId"]},
        }
    }
    assert guard.handle(event).action == "valid"  # judged, not skipped as a duplicate
    assert _tags(s3, PREFIX + "Copy.tar.gz")["guard-version"] == copy["VersionId"]
    assert len(recorder.metrics) == 2


def test_events_for_another_bucket_are_skipped(s3: Any, recorder: Recorder) -> None:
    event = {"detail": {"bucket": {"name": "someone-else"}, "object": {"key": PREFIX + "A.tar.gz", "version-id": "1"}}}
    assert _guard(s3, recorder).handle(event).action == "skipped"


def test_a_rejected_archive_over_the_single_copy_limit_is_copied_in_parts(
    s3: Any, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CopyObject copies at most 5 GB (Amazon S3 API Reference, CopyObject); past that only a multipart copy
    # works. The limit is lowered here so that a small archive takes the same path as a 6 GB one would.
    monkeypatch.setattr(guard_module, "_SINGLE_COPY_LIMIT", 1024)
    calls: list[str] = []
    original = s3.copy_object
    monkeypatch.setattr(s3, "copy_object", lambda **kw: calls.append("copy_object") or original(**kw))
    key = PREFIX + "Big.tar.gz"
    big = b"\x00" * (9 * 1024 * 1024)  # over boto3's 8 MiB multipart threshold, and not an archive
    assert _guard(s3, recorder).handle(_put(s3, key, big)).action == "rejected"
    assert calls == []
    assert s3.head_object(Bucket=BUCKET, Key="quarantine/" + key)["ContentLength"] == len(big)
    assert _tags(s3, "quarantine/" + key)["guard-verdict"] == "rejected"


def test_the_deadline_rejects_instead_of_timing_out(s3: Any, recorder: Recorder) -> None:
    guard = _guard(s3, recorder)
    guard.should_stop = lambda: True
    outcome = guard.handle(_put(s3, PREFIX + "Slow.tar.gz", good()))
    assert (outcome.action, outcome.reason.split(":")[0]) == ("rejected", "time")


def test_events_outside_served_prefixes_and_warmup_payloads_are_skipped(s3: Any, recorder: Recorder) -> None:
    guard = _guard(s3, recorder)
    assert guard.handle(_put(s3, "models/other/x.tar.gz", good())).action == "skipped"
    assert guard.handle(_put(s3, PREFIX + "Chicago_IL.warmup.json", b"{}")).reason == "warm-up payload"


def test_a_vanished_version_is_skipped(s3: Any, recorder: Recorder) -> None:
    event = _put(s3, PREFIX + "Chicago_IL.tar.gz", good())
    s3.delete_object(Bucket=BUCKET, Key=PREFIX + "Chicago_IL.tar.gz", VersionId=event["detail"]["object"]["version-id"])
    assert _guard(s3, recorder).handle(event).reason == "object version no longer exists"


def test_an_event_without_a_version_judges_and_tags_the_version_current_when_it_arrived(
    s3: Any, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whoever may invoke the guard (modelctl rescan) can send an event without a version id. PutObjectTagging
    # without versionId tags the current version (Amazon S3 API Reference, PutObjectTagging): had the guard read
    # and tagged by key alone, an upload made while it read a valid archive would be tagged valid unread.
    key = PREFIX + "Raced.tar.gz"
    first = s3.put_object(Bucket=BUCKET, Key=key, Body=good())["VersionId"]
    original = s3.get_object

    def upload_while_reading(**arguments: Any) -> Any:
        answer = original(**arguments)
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"not an archive")  # lands while the guard reads
        return answer

    monkeypatch.setattr(s3, "get_object", upload_while_reading)
    event = {"detail": {"bucket": {"name": BUCKET}, "object": {"key": key}}}
    assert _guard(s3, recorder).handle(event).action == "valid"
    assert _tags(s3, key, VersionId=first)["guard-version"] == first
    current = s3.head_object(Bucket=BUCKET, Key=key)["VersionId"]
    assert current != first
    assert "guard-verdict" not in _tags(s3, key, VersionId=current)  # its own event will judge it


def test_an_archive_uploaded_before_versioning_is_judged_as_the_null_version(recorder: Recorder, moto: Moto) -> None:
    # modelctl rescan sends no version id for an object written while versioning was off: S3 calls its version
    # "null" (S3 User Guide, "Working with objects in a versioning-enabled bucket").
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    key = PREFIX + "Old.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=good())
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    event = {"detail": {"bucket": {"name": BUCKET}, "object": {"key": key}}}
    assert _guard(s3, recorder).handle(event).action == "valid"
    assert _tags(s3, key)["guard-version"] == "null"
    assert _guard(s3, recorder).handle(event).reason == "already valid (duplicate event)"


def test_an_event_without_a_version_for_a_deleted_key_is_skipped(s3: Any, recorder: Recorder) -> None:
    key = PREFIX + "Gone.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=good())
    s3.delete_object(Bucket=BUCKET, Key=key)  # a delete marker is current
    event = {"detail": {"bucket": {"name": BUCKET}, "object": {"key": key}}}
    assert _guard(s3, recorder).handle(event).reason == "no current version (deleted)"


def test_bomb_and_size_limits_apply(s3: Any, recorder: Recorder) -> None:
    big = tar_gz([Entry("weights.bin", bytes(11 * 1024 * 1024))])
    outcome = _guard(s3, recorder).handle(_put(s3, PREFIX + "big.tar.gz", big))
    assert outcome.reason.split(":")[0] in ("size", "compression-ratio")


class FakeRuntime:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke_endpoint(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(arguments)
        return {"Body": io.BytesIO(b"[1.0]")}


def test_warm_up_invokes_the_new_model_with_its_payload(s3: Any, recorder: Recorder) -> None:
    runtime = FakeRuntime()
    s3.put_object(
        Bucket=BUCKET,
        Key=PREFIX + "Chicago_IL.warmup.json",
        Body=json.dumps({"contentType": "text/csv", "body": "1,2,3"}),
    )
    _guard(s3, recorder, runtime, warm_up=True).handle(_put(s3, PREFIX + "Chicago_IL.tar.gz", good()))
    assert runtime.calls == [
        {
            "EndpointName": "dev-home-values",
            "TargetModel": "Chicago_IL.tar.gz",
            "ContentType": "text/csv",
            "Body": b"1,2,3",
        }
    ]


def test_no_warm_up_without_a_payload(s3: Any, recorder: Recorder) -> None:
    runtime = FakeRuntime()
    _guard(s3, recorder, runtime, warm_up=True).handle(_put(s3, PREFIX + "Chicago_IL.tar.gz", good()))
    assert runtime.calls == []


def test_the_lambda_uses_the_same_rules_as_modelctl() -> None:
    from modelctl import cli

    # One module, imported under one name by the CLI and the function (whose asset carries a copy of it).
    assert guard_module.check_archive is cli.check_archive is rules.check_archive
    assert guard_module.ServedPrefix is ServedPrefix


def test_a_retry_finishes_a_quarantine_a_failure_interrupted(
    s3: Any, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The verdict is written first (the archive is unreadable from then on); if removing it from the served
    # prefix fails, Lambda retries the event, and the retry must finish the job instead of skipping it.
    key = PREFIX + "Broken.tar.gz"
    event = _put(s3, key, b"not an archive")
    guard = _guard(s3, recorder)
    original = s3.delete_object

    def fail_once(**_: Any) -> Any:
        monkeypatch.setattr(s3, "delete_object", original)
        raise RuntimeError("S3 unavailable")

    monkeypatch.setattr(s3, "delete_object", fail_once)
    with pytest.raises(RuntimeError):
        guard.handle(event)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("KeyCount") == 1  # still there, tagged rejected
    retried = guard.handle(event)
    assert (retried.action, retried.reason.endswith("(quarantine completed on a retry)")) == ("rejected", True)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("KeyCount") == 0
    assert len(recorder.notes) == 1
    # A third delivery has nothing left to do.
    assert guard.handle(event).action == "skipped"
    assert len(recorder.notes) == 1


# Inference components: the catalog keeps one archive per component, and the guard judges each like a container's.

TABULAR = TABULAR_PREFIX


def _component_guard(s3: Any, recorder: Recorder, runtime: Any = None) -> Any:
    """The guard as the ModelStore configures it for a stage with a multi-model endpoint and an endpoint of two
    inference components: the catalog's prefixes, through the function's environment variable."""
    import aws_cdk as cdk

    from constructs_lib.artifact_catalog import ArtifactCatalog, EndpointArtifacts
    from hosting_contract import served_prefix
    from tests.support import make_app, tabular_artifacts

    catalog = ArtifactCatalog(
        cdk.Stack(make_app(), "Store"),
        "Catalog",
        parameter_path="/sagemaker-hosting/dev/artifacts",
        endpoints=[
            EndpointArtifacts(endpoint_name="dev-home-values", prefix=PREFIX, warm_up=True),
            tabular_artifacts(),
        ],
    )
    return guard_module.Guard(
        s3=s3,
        runtime=runtime,
        bucket=BUCKET,
        prefixes=served_prefix.decode(served_prefix.encode(catalog.guarded_prefixes())),
        limits=rules.Limits(max_uncompressed_bytes=10 * 1024 * 1024),
        notify=lambda subject, message: recorder.notes.append((subject, message)),
        emit=recorder.metrics.append,
    )


def test_a_component_s_archive_is_judged_and_never_warmed_up(s3: Any, recorder: Recorder) -> None:
    runtime = FakeRuntime()
    # A payload beside it changes nothing: a warm-up names a TargetModel, which a component has not.
    s3.put_object(Bucket=BUCKET, Key=f"{TABULAR}churn/model.warmup.json", Body=json.dumps({"body": "1"}))
    guard = _component_guard(s3, recorder, runtime)
    for key in (f"{TABULAR}churn/model.tar.gz", f"{TABULAR}churn/model-v2.tar.gz"):
        assert guard.handle(_put(s3, key, good())).action == "valid"
        assert _tags(s3, key)["guard-verdict"] == "valid"
    assert runtime.calls == []
    assert [m["Endpoint"] for m in recorder.metrics] == ["dev-tabular", "dev-tabular"]


def test_a_component_s_archive_must_have_its_layout(s3: Any, recorder: Recorder) -> None:
    key = f"{TABULAR}fraud/model.tar.gz"
    outcome = _component_guard(s3, recorder).handle(_put(s3, key, good()))
    assert (outcome.action, outcome.reason.split(":")[0]) == ("rejected", "layout")
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{TABULAR}fraud/").get("KeyCount") == 0
    assert _tags(s3, "quarantine/" + key)["guard-verdict"] == "rejected"
    ((subject, message),) = recorder.notes
    assert subject == f"Model archive rejected: {key}"
    assert "was rejected for endpoint dev-tabular: layout" in message


def test_an_archive_outside_every_component_s_folder_is_not_served(s3: Any, recorder: Recorder) -> None:
    outcome = _component_guard(s3, recorder).handle(_put(s3, f"{TABULAR}stray.tar.gz", good()))
    assert (outcome.action, outcome.reason) == ("skipped", "not under a served prefix")
