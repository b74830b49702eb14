"""The shared fixtures keep their promises: the session's synthesis is the CLI's, moto starts empty each test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import examples
from tests.support import CLI_CONTEXT, ROOT, SYNTH_OUT_VARIABLE, Moto, Synthesis, cli_context, synthesize_like_the_cli


def test_the_session_synthesis_is_a_clean_cloud_assembly_of_every_stage(synthesis: Synthesis) -> None:
    assert synthesis.status == 0, synthesis.stderr
    assert synthesis.stderr == ""
    manifest = json.loads((synthesis.outdir / "manifest.json").read_text())
    # The layout `cdk synth --output` writes: one nested assembly per stage, and the validation report.
    assert {a for a, v in manifest["artifacts"].items() if v["type"] == "cdk:cloud-assembly"} == {
        f"assembly-{stage}" for stage in examples.STAGE_IDS
    }
    assert (synthesis.outdir / "validation-report.json").is_file()
    for stage in synthesis.stages:
        for stack in (stage.model_store, *stage.hosting_stacks):
            path = synthesis.outdir / f"assembly-{stage.node.id}" / stack.template_file
            assert path.is_file(), path
            assert synthesis.template(stack) == json.loads(path.read_text())


def test_templates_are_copies(synthesis: Synthesis) -> None:
    stack = synthesis.stages[0].model_store
    synthesis.template(stack)["Resources"].clear()
    assert synthesis.resources(stack)


def test_the_context_is_cdk_json_s_and_the_cli_s() -> None:
    configured = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert cli_context() == {**configured, **CLI_CONTEXT}


def test_the_context_is_what_the_pinned_cli_hands_the_app(tmp_path: Path) -> None:
    """``CLI_CONTEXT`` is read from the CDK CLI of package.json: if an upgrade changes it, this test says so."""
    cli = ROOT / "node_modules" / ".bin" / "cdk"
    if not cli.exists():
        pytest.skip("the CDK CLI is not installed (make setup)")
    dump, handed = tmp_path / "dump.py", tmp_path / "environment.json"
    dump.write_text(
        "import json, os, sys\n"
        "json.dump({k: v for k, v in os.environ.items() if k.startswith('CDK_')}, open(sys.argv[1], 'w'))\n"
    )
    # No credentials: the CLI would ask STS for a default account. Offline, as `make synth` runs it.
    environment = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    environment.pop("AWS_SESSION_TOKEN", None)
    environment.update(
        CDK_DISABLE_CLI_TELEMETRY="true", CDK_DISABLE_VERSION_CHECK="1", AWS_EC2_METADATA_DISABLED="true"
    )
    command = [str(cli), "synth", "--quiet", "--no-notices", "--output", str(tmp_path / "out")]
    command += ["--app", f"{sys.executable} {dump} {handed}"]
    # The CLI then reports a missing cloud assembly (the app wrote none): what it handed the app is all we need.
    subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300, check=False)
    variables = json.loads(handed.read_text())
    assert "CDK_CONTEXT_JSON" in variables, sorted(variables)
    assert json.loads(variables["CDK_CONTEXT_JSON"]) == cli_context()


def test_a_folder_that_is_not_an_assembly_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="neither empty nor a cloud assembly"):
        synthesize_like_the_cli(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("attempt", [1, 2])
def test_moto_starts_empty_for_every_test(moto: Moto, attempt: int) -> None:
    # Run twice in one module (one mock): the second run sees nothing of the first's bucket and parameter.
    s3, ssm = moto.client("s3"), moto.client("ssm")
    assert s3.list_buckets()["Buckets"] == [], attempt
    assert ssm.describe_parameters()["Parameters"] == [], attempt
    s3.create_bucket(Bucket="left-behind", CreateBucketConfiguration={"LocationConstraint": moto.region})
    ssm.put_parameter(Name="/left/behind", Value="x", Type="String")


def test_moto_s_kms_keys_make_their_private_key_when_first_used(moto: Moto) -> None:
    """An asymmetric key still signs and verifies in moto, and its public key verifies the signature outside it."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.kms.models import kms_backends

    kms = moto.client("kms")
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    stored = kms_backends[DEFAULT_ACCOUNT_ID][moto.region].keys[key_id]
    assert stored.private_key._key is None  # nothing made when the key was created
    message, algorithm = b"model.tar.gz", "RSASSA_PSS_SHA_256"
    signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=algorithm)["Signature"]
    assert kms.verify(KeyId=key_id, Message=message, Signature=signature, SigningAlgorithm=algorithm)["SignatureValid"]
    public_key: Any = load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    public_key.verify(
        signature,
        message,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
        hashes.SHA256(),
    )  # raises InvalidSignature otherwise
    assert public_key.key_size == 2048


def _assembly_with(tmp_path: Path, template: dict[str, object]) -> Path:
    outdir = tmp_path / "cdk.out"
    (outdir / "assembly-Stage").mkdir(parents=True)
    (outdir / "assembly-Stage" / "StageHosting.template.json").write_text(json.dumps(template))
    return outdir


def test_the_assembly_is_cfn_linted_beside_the_tests_a_clean_verdict_remembered_a_finding_never(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests import conftest

    # The session's own synthesis and lint are not this test's: it drives the same functions on an assembly of its own.
    monkeypatch.setattr(conftest, "_synthesis", None)
    monkeypatch.setattr(conftest, "_assembly_lint", None)
    monkeypatch.setattr(conftest, "_LINT_CACHE", tmp_path / "clean")
    outdir = _assembly_with(tmp_path, {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}})

    def run() -> tuple[bool, list[str]]:
        """One session's lint: whether cfn-lint ran, and the problems reported."""
        conftest._start_assembly_lint(outdir)
        linted = conftest._assembly_lint is not None
        problems = conftest._assembly_problems()
        monkeypatch.setattr(conftest, "_assembly_lint", None)
        assert list(tmp_path.glob(".*cfn-lint*")) == []  # its output file is removed once read
        return linted, problems

    assert run() == (True, [])
    # The same templates, once clean, are clean again without cfn-lint running.
    assert run() == (False, [])
    # A changed template (here: a property SNS's schema does not have, cfn-lint's E3002) is linted again, and a
    # finding is never remembered: it is linted and reported (pytest_sessionfinish fails the run on it) every time.
    (template,) = outdir.glob("assembly-*/*.template.json")
    template.write_text(
        json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"Colour": "red"}}}})
    )
    for _again in range(2):
        linted, problems = run()
        assert linted
        assert len(problems) == 1
        assert problems[0].startswith("cfn-lint on HOSTING_SYNTH_OUT exited")
        assert "E3002" in problems[0]


def test_the_xdist_controller_reports_what_the_writing_worker_found(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from tests import conftest

    monkeypatch.setattr(conftest, "_worker_problems", [])
    conftest.pytest_testnodedown(SimpleNamespace(workeroutput={"assembly_problems": ["cfn-lint on ... exited 2"]}))
    conftest.pytest_testnodedown(SimpleNamespace(workeroutput={}))  # a worker that wrote no assembly
    conftest.pytest_testnodedown(SimpleNamespace())  # a worker that crashed: xdist reports it
    assert conftest._worker_problems == ["cfn-lint on ... exited 2"]


def test_the_writing_worker_going_down_between_tests_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from tests import conftest

    monkeypatch.setattr(conftest, "_worker_problems", [])
    monkeypatch.setenv(SYNTH_OUT_VARIABLE, "cdk.out")
    conftest.pytest_testnodedown(SimpleNamespace(workerinput={"workerid": "gw1"}), error="crashed")
    conftest.pytest_testnodedown(SimpleNamespace(workerinput={"workerid": "gw0"}), error=None)  # done
    assert conftest._worker_problems == []
    conftest.pytest_testnodedown(SimpleNamespace(workerinput={"workerid": "gw0"}), error="crashed")
    assert len(conftest._worker_problems) == 1
    assert "gw0, which writes it, went down: crashed" in conftest._worker_problems[0]


def test_make_cfn_lint_ignores_what_the_tests_ignore() -> None:
    """`make cfn-lint` and the tests' cfn-lint (in process and beside the tests) ignore the same rules."""
    import re

    from tests.support import CFN_LINT_IGNORED

    makefile = (ROOT / "Makefile").read_text()
    (recipe,) = re.findall(r"^cfn-lint:.*\n\t(.+)$", makefile, re.M)
    assert tuple(re.findall(r"--ignore-checks (\S+)", recipe)) == CFN_LINT_IGNORED


def test_the_tests_cfn_lint_finds_what_cfn_lint_s_api_finds_template_after_template() -> None:
    """``cfn_lint`` loads cfn-lint's rules once per process; a template linted after another gets the verdict that
    ``cfnlint.api.lint`` (which loads them for each call) gives, W3005 aside, and a clean template stays clean."""
    from cfnlint.api import ManualArgs, lint

    from tests.support import CFN_LINT_IGNORED, cfn_lint

    queue = {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 30}}
    bad = {
        "Parameters": {"Unused": {"Type": "String"}},  # W2001
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "soon", "Colour": "red"}},
            # W3005 (DependsOn beside a GetAtt of the same resource), which make test ignores
            "Other": {
                "Type": "AWS::SQS::Queue",
                "DependsOn": "Queue",
                "Properties": {"VisibilityTimeout": {"Fn::GetAtt": ["Queue", "VisibilityTimeout"]}},
            },
        },
    }
    assert "W3005" in {m.rule.id for m in lint(json.dumps(bad), config=ManualArgs(regions=["eu-west-1"]))}
    clean = {"Resources": {"Queue": queue}}
    wanted = sorted(
        f"{m.rule.id}: {m.message}"
        for m in lint(json.dumps(bad), config=ManualArgs(regions=["eu-west-1"], ignore_checks=list(CFN_LINT_IGNORED)))
    )
    assert {finding.split(":")[0] for finding in wanted} >= {"E3002", "E3012", "W2001"}
    assert "W3005" not in {finding.split(":")[0] for finding in wanted}
    for _ in range(2):
        assert sorted(cfn_lint(bad)) == wanted
        assert cfn_lint(clean) == []
    assert cfn_lint({"Resources": []}) != []  # one that cfn-lint cannot decode as a template is not clean


def test_the_test_set_up_loads_no_cdk_until_a_test_asks() -> None:
    """conftest and the shared helpers import the CDK where it is used: the xdist controller, which runs no test,
    and a run of modelctl's or the functions' tests start no Node process and load no jsii assembly."""
    jsii_packages = ("aws_cdk", "constructs", "cdk_nag")  # each loads its assembly into Node when imported
    probe = (
        f"import sys, tests.conftest, tests.support; print([m for m in sys.modules if m.startswith({jsii_packages})])"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert loaded.strip() == "[]"


def test_the_policy_evaluator_reads_principals_and_conditions_as_iam_does() -> None:
    from tests.support import policy_allows

    topic = "arn:aws:sns:eu-west-1:111111111111:alarms"
    allow = {"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
             "Resource": topic}  # fmt: skip
    # A Deny naming several services applies to each of them ("IAM JSON policy elements: Principal").
    deny = {"Effect": "Deny", "Principal": {"Service": ["events.amazonaws.com", "cloudwatch.amazonaws.com"]},
            "Action": "sns:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}  # fmt: skip
    secure, plain = {"aws:SecureTransport": "true"}, {"aws:SecureTransport": "false"}
    assert policy_allows([allow, deny], "sns:Publish", topic, secure, principal="cloudwatch.amazonaws.com")
    assert not policy_allows([allow, deny], "sns:Publish", topic, plain, principal="cloudwatch.amazonaws.com")
    # A condition on a key the request does not carry matches nothing: here, the Deny.
    assert policy_allows([allow, deny], "sns:Publish", topic, {}, principal="cloudwatch.amazonaws.com")
    assert not policy_allows([allow], "sns:Publish", topic, secure, principal="s3.amazonaws.com")
    with pytest.raises(AssertionError, match="an evaluator for StringLike is needed"):
        policy_allows([{**allow, "Condition": {"StringLike": {"aws:SourceArn": "*"}}}], "sns:Publish", topic, secure,
                      principal="cloudwatch.amazonaws.com")  # fmt: skip
