"""Captured requests reach the stage's bucket: what SageMaker writes, under which key, is allowed end to end.

SageMaker writes each captured file under the configured ``DestinationS3Uri`` followed by
``<endpoint-name>/<variant-name>/yyyy/mm/dd/hh/<file>.jsonl`` (SageMaker Developer Guide, "Capture data from
real-time endpoint"), encrypted with the config's ``KmsKeyId``, as the endpoint's execution role (the one its
models run as; no other principal is given to SageMaker). So for every capturing endpoint config of every stage:
the role's policy allows ``s3:PutObject`` on such a key and ``kms:GenerateDataKey`` on that key through S3, and
the bucket policy denies neither (IAM User Guide, "Policy evaluation logic": an explicit Deny wins).
"""

from __future__ import annotations

import fnmatch

from tests.support import Synthesis, as_list, policy_allows


def test_every_capturing_endpoint_may_write_its_captures(synthesis: Synthesis) -> None:
    checked = 0
    for stage in synthesis.stages:
        bucket_name = stage.config.artifact_bucket_name
        store = synthesis.resources(stage.model_store)
        (bucket_policy,) = [
            r["Properties"]["PolicyDocument"]["Statement"]
            for r in store.values()
            if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": "ArtifactsBucket88671897"}
        ]
        denies = [
            statement
            for statement in bucket_policy
            if statement["Effect"] == "Deny"
            and any(fnmatch.fnmatchcase("s3:PutObject", a) for a in as_list(statement["Action"]))
            and statement.get("Condition") != {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies, "the artifact guard's Denies are expected on the bucket"
        for hosting in stage.hosting_stacks:
            resources = synthesis.resources(hosting)
            for config_id, config in resources.items():
                capture = (
                    config["Properties"].get("DataCaptureConfig") if config["Type"].endswith("EndpointConfig") else None
                )
                if not capture:
                    continue
                (endpoint,) = [
                    r["Properties"]["EndpointName"]
                    for r in resources.values()
                    if r["Type"] == "AWS::SageMaker::Endpoint"
                    and r["Properties"]["EndpointConfigName"] == {"Fn::GetAtt": [config_id, "EndpointConfigName"]}
                ]
                uri = capture["DestinationS3Uri"]
                assert uri.startswith(f"s3://{bucket_name}/"), uri
                variants = config["Properties"]["ProductionVariants"]
                model_id = variants[0]["ModelName"]["Fn::GetAtt"][0]
                role_id = resources[model_id]["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
                statements = [
                    statement
                    for r in resources.values()
                    if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
                    for statement in r["Properties"]["PolicyDocument"]["Statement"]
                ]
                via_s3 = {"kms:ViaService": f"s3.{stage.region}.amazonaws.com"}
                assert policy_allows(statements, "kms:GenerateDataKey", capture["KmsKeyId"], via_s3), endpoint
                # Not directly: only S3 may use the key on the role's behalf.
                assert not policy_allows(statements, "kms:GenerateDataKey", capture["KmsKeyId"], {}), endpoint
                for variant in variants:
                    key = f"{uri.removeprefix(f's3://{bucket_name}/')}/{endpoint}/{variant['VariantName']}"
                    arn = f"arn:aws:s3:::{bucket_name}/{key}/2026/11/26/13/capture-file.jsonl"
                    assert policy_allows(statements, "s3:PutObject", arn, {}), arn
                    # The bucket's Denies of PutObject (models/ only) other than plain HTTP's: none reaches captures.
                    for deny in denies:
                        for pattern in as_list(deny["Resource"]):
                            # {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/models/*"]]}: the key pattern.
                            path = pattern["Fn::Join"][1][1] if isinstance(pattern, dict) else "/*"
                            assert not fnmatch.fnmatchcase(arn.split(":::", 1)[1], bucket_name + path), deny["Sid"]
                    checked += 1
    assert checked, "no stage captures data: the examples should keep one that does"


def test_a_capturing_endpoint_alarms_on_disk_before_capture_stops(synthesis: Synthesis) -> None:
    # "Data Capture stops capturing requests at high levels of disk usage ... keep your disk utilization below
    # 75%" (SageMaker Developer Guide, "Capture data from real-time endpoint").
    seen = set()
    for stage in synthesis.stages:
        capturing = {e.name for e in stage.config.multi_container_endpoints if e.data_capture is not None}
        for hosting in stage.hosting_stacks:
            for alarm in synthesis.resources(hosting, "AWS::CloudWatch::Alarm").values():
                properties = alarm["Properties"]
                if properties.get("MetricName") != "DiskUtilization":
                    continue
                endpoint = next(d["Value"] for d in properties["Dimensions"] if d["Name"] == "EndpointName")
                short = endpoint.removeprefix(f"{stage.config.name}-")
                configured = stage.config.alarm_thresholds.disk_percent
                expected = min(configured, 75) if short in capturing else configured
                assert properties["Threshold"] == expected, endpoint
                seen.add(short in capturing)
    assert seen == {True, False}
