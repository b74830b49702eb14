"""The modelctl command line. Every error is one line on stderr and a documented exit status (``modelctl.errors``,
docs/OPERATIONS.md); never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable, Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

from hosting_contract import naming, ssm_paths

# check_archive is the artifact guard's checker; modelctl.validation applies the same rules with a faster reader.
from hosting_contract.archive_rules import VALID, Layout, Limits, Report, check_key
from hosting_contract.archive_rules import check_archive as check_archive
from modelctl import __version__, progress, validation
from modelctl.errors import (
    AWS_ERROR,
    INTERNAL,
    INTERRUPTED,
    INVALID,
    NO_VERDICT,
    NOT_FOUND,
    NOT_FOUND_CODES,
    OK,
    USAGE,
    ModelctlError,
)
from modelctl.packaging import package_directory

__all__ = ["AWS_ERROR", "INTERNAL", "INTERRUPTED", "INVALID", "NOT_FOUND", "NO_VERDICT", "OK", "USAGE", "main"]

Clients = Callable[..., Any]
"""``clients(service, region)`` makes a boto3 client; loadtest passes a botocore ``Config`` as a third argument."""

#: Where a missing region or missing credentials come from, and how to give them.
REGION_HELP = (
    "no AWS region: pass --region (e.g. --region eu-west-1), or export AWS_REGION=eu-west-1, or set it in your "
    "profile (aws configure set region eu-west-1 --profile NAME)"
)
CREDENTIALS_HELP = (
    "no AWS credentials: sign in with a profile (aws sso login --profile NAME, then export AWS_PROFILE=NAME; or "
    "aws configure), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN); in GitHub "
    "Actions, aws-actions/configure-aws-credentials with the environment's role first"
)
EXPIRED_HELP = "your AWS credentials are expired or not valid: sign in again (aws sso login --profile NAME)"
DENIED_HELP = "your AWS role lacks a permission modelctl needs (docs/OPERATIONS.md: What an uploader needs)"
_EXPIRED_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
    }
)
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "403", "Forbidden"})


def _at_least(minimum: float, kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` no smaller than ``minimum`` (argparse says which option is wrong)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, not {text}")
        return value

    return parse


class _Version(argparse.Action):
    """``--version``: modelctl's, and what it runs on (for bug reports); read only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib import metadata

        def installed(name: str) -> str:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                return "not installed"

        print(
            f"modelctl {__version__} (Python {platform.python_version()}, boto3 {installed('boto3')}, "
            f"isal {installed('isal')}, tqdm {installed('tqdm')})"
        )
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelctl",
        description="Package, validate, upload, list, retire, invoke and load-test SageMaker models.",
        epilog="Exit statuses: 0 done (valid), 1 invalid (or preflight found archives missing), 2 usage, "
        "3 AWS error (region, credentials, access, throttling), 4 not found, 5 upload without a verdict in time.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show modelctl's version and exit")
    commands = parser.add_subparsers(dest="command", required=True)
    # Given after the command, as the other options are.
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars (drawn only on a terminal in any case)"
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="one JSON document on stdout (docs/OPERATIONS.md)")

    def layout(sub: argparse.ArgumentParser, default: str | None = Layout.FLAT.value) -> None:
        sub.add_argument(
            "--layout",
            choices=[m.value for m in Layout],
            default=default,
            help=", ".join(f"{m.value} ({m.summary})" for m in Layout)
            + f"; default: {default or 'the layout the ModelStore publishes for the endpoint or container'}",
        )

    def place(sub: argparse.ArgumentParser, *, endpoint_required: bool = True) -> None:
        sub.add_argument("--env", required=True, help="environment name (dev, staging, prod)")
        sub.add_argument(
            "--endpoint", required=endpoint_required, help="endpoint name, short (home-values) or deployed"
        )
        sub.add_argument("--region", help="AWS region (default: your AWS configuration)")

    package = commands.add_parser("package", parents=[quiet], help="write a deterministic NAME.tar.gz from a directory")
    package.add_argument("directory", type=Path)
    package.add_argument("-o", "--output", type=Path, required=True, help="the archive to write (NAME.tar.gz)")
    layout(package)

    validate = commands.add_parser(
        "validate", parents=[quiet, as_json], help="check an archive with the artifact guard's rules"
    )
    validate.add_argument("archive", type=Path)
    layout(validate)

    upload = commands.add_parser(
        "upload", parents=[quiet], help="validate, upload under the endpoint's prefix, wait for the guard"
    )
    upload.add_argument("archive", type=Path)
    place(upload)
    member = upload.add_mutually_exclusive_group()
    member.add_argument(
        "--container", help="multi-container endpoint: the container whose archive this is (its hostname)"
    )
    member.add_argument(
        "--component",
        help="inference-component endpoint: the component whose archive this is (its configured name, e.g. churn, "
        "or its deployed name, e.g. dev-tabular-churn)",
    )
    upload.add_argument(
        "--as",
        dest="target_model",
        help="multi-model: TargetModel to upload as (default: the file's name); multi-container or inference "
        "components: a new file name in the container's or component's folder (default: the configured key)",
    )
    upload.add_argument(
        "--wait", type=_at_least(0, float), default=120, help="seconds to wait for the guard's verdict (0: no wait)"
    )
    layout(upload, default=None)

    listing = commands.add_parser("list", parents=[as_json], help="an endpoint's archives with the guard's verdicts")
    place(listing)

    rescan = commands.add_parser(
        "rescan", help="have the guard check archives it has no verdict of its own on (uploaded before it existed)"
    )
    place(rescan, endpoint_required=False)
    rescan.add_argument(
        "--wait", type=_at_least(0, float), default=0, help="seconds to wait for the verdicts (0: no wait)"
    )

    preflight = commands.add_parser(
        "preflight",
        parents=[as_json],
        help="before deploying Hosting: is every archive the synthesized stage needs there, and valid?",
    )
    preflight.add_argument("--env", required=True, help="environment name (dev, staging, prod)")
    preflight.add_argument("--assembly", type=Path, default=Path("cdk.out"), help="the cloud assembly (cdk.out)")
    preflight.add_argument("--region", help="AWS region (default: your AWS configuration)")

    component_help = (
        "an inference component of the endpoint: its configured name (churn) or deployed name (dev-tabular-churn)"
    )
    invoke = commands.add_parser("invoke", help="invoke one model, container or inference component")
    place(invoke)
    target = invoke.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-model", help="TargetModel of a multi-model endpoint, e.g. Chicago_IL.tar.gz")
    target.add_argument("--target-container", help="ContainerHostname of a Direct multi-container endpoint")
    target.add_argument("--pipeline", action="store_true", help="a Serial pipeline: no target")
    target.add_argument("--component", help=component_help)
    invoke.add_argument("--body", type=Path, required=True, help="file holding the request body")
    invoke.add_argument("--content-type", required=True)
    invoke.add_argument("--accept")

    load = commands.add_parser("loadtest", help="bounded concurrent invocations with latency percentiles")
    place(load)
    sent_to = load.add_mutually_exclusive_group(required=True)
    sent_to.add_argument("--models", help="comma-separated TargetModels, e.g. A.tar.gz,B.tar.gz")
    sent_to.add_argument("--component", help=component_help + "; comma-separated for several")
    load.add_argument("--concurrency", type=_at_least(1, int), default=4, help="requests in flight at once")
    load.add_argument(
        "--requests",
        type=_at_least(1, int),
        default=100,
        help="requests in all, round-robin over the models or components",
    )
    load.add_argument(
        "--time-limit", type=_at_least(0.001, float), default=300, help="stop sending after this many seconds"
    )
    load.add_argument("--body", type=Path, required=True)
    load.add_argument("--content-type", default="text/csv")

    retire = commands.add_parser(
        "retire",
        help="take a model of a multi-model endpoint out of service: a delete marker hides it (restorable); "
        "refuses a smoke-test canary",
    )
    place(retire)
    retire.add_argument("--model", required=True, help="the TargetModel, e.g. Chicago_IL.tar.gz")
    retire.add_argument(
        "--assembly",
        type=Path,
        default=Path("cdk.out"),
        help="the cloud assembly whose smoke tests name the canaries (default: cdk.out, from make synth)",
    )
    retire.add_argument(
        "--skip-canary-check",
        action="store_true",
        help="retire without the assembly's list of smoke-test canaries (you know the model is not one)",
    )
    retire.add_argument("--dry-run", action="store_true", help="check and say what would happen; change nothing")
    return parser


def main(argv: Sequence[str], *, clients: Clients | None = None) -> int:
    """Run modelctl; ``clients(service, region[, config])`` makes boto3 clients (tests pass their own)."""
    arguments = _parser().parse_args(argv)
    try:
        return _COMMANDS[arguments.command](arguments, clients or _boto3_client)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as error:
        message, status = _failure(error)
        if status == INTERNAL and os.environ.get("MODELCTL_TRACEBACK"):
            raise
        print(f"error: {message}", file=sys.stderr)
        return status


def _failure(error: Exception) -> tuple[str, int]:
    """The one line and the exit status that say what went wrong."""
    if isinstance(error, ModelctlError):
        return str(error), error.status
    from boto3.exceptions import Boto3Error
    from botocore import exceptions as aws

    if isinstance(error, aws.NoRegionError):
        return REGION_HELP, AWS_ERROR
    if isinstance(error, aws.NoCredentialsError | aws.PartialCredentialsError | aws.ProfileNotFound):
        return f"{CREDENTIALS_HELP} ({error})", AWS_ERROR
    if isinstance(error, aws.TokenRetrievalError | aws.SSOTokenLoadError | aws.UnauthorizedSSOTokenError):
        return f"{EXPIRED_HELP} ({error})", AWS_ERROR
    if isinstance(error, aws.ParamValidationError):
        return str(error).replace("\n", " "), USAGE
    if isinstance(error, aws.ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        message = str(error.response.get("Error", {}).get("Message", ""))
        if code in NOT_FOUND_CODES or ("Validation" in code and "not found" in message.lower()):
            return str(error), NOT_FOUND
        if code in _EXPIRED_CODES:
            return f"{error}: {EXPIRED_HELP}", AWS_ERROR
        if code in _DENIED_CODES:
            return f"{error}: {DENIED_HELP}", AWS_ERROR
        return str(error), AWS_ERROR
    if isinstance(error, aws.BotoCoreError | Boto3Error):
        return str(error), AWS_ERROR
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or error}", NOT_FOUND if isinstance(error, FileNotFoundError) else USAGE
    return (
        f"unexpected {type(error).__name__}: {error} (a bug in modelctl: MODELCTL_TRACEBACK=1 shows where)",
        INTERNAL,
    )


def _boto3_client(service: str, region: str | None, config: Any = None) -> Any:
    import boto3

    # boto3's stubs type client() per literal service name; ours is chosen at run time.
    make: Any = boto3.client
    return make(service, region_name=region, config=config)


def _report(archive: Path, layout: str, quiet: bool) -> Report:
    with (
        archive.open("rb") as stream,
        progress.bars(quiet=quiet)(f"checking {archive.name}", archive.stat().st_size) as advance,
    ):
        return validation.check(stream, layout=Layout(layout), limits=Limits(), progress=advance)


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2))


def _package(arguments: argparse.Namespace, _: Clients) -> int:
    packaged = package_directory(
        arguments.directory,
        arguments.output,
        layout=Layout(arguments.layout),
        progress=progress.bars(quiet=arguments.quiet),
    )
    for name in packaged.skipped:
        print(f"left out {name}: an archive modelctl package wrote, not part of the model", file=sys.stderr)
    print(f"wrote {arguments.output} ({packaged.size} bytes)")
    return OK


def _validate(arguments: argparse.Namespace, _: Clients) -> int:
    # The file's name is what it would be uploaded as (its TargetModel), unless --as says otherwise.
    report = _report(arguments.archive, arguments.layout, arguments.quiet)
    problems = check_key(arguments.archive.name, "") + report.problems
    if arguments.json:
        _print_json(
            {
                "archive": str(arguments.archive),
                "layout": arguments.layout,
                "valid": not problems,
                "problems": [{"rule": p.rule, "message": p.message} for p in problems],
                "entries": report.entries,
                "compressed_bytes": report.compressed_bytes,
                "uncompressed_bytes": report.uncompressed_bytes,
            }
        )
        return INVALID if problems else OK
    for problem in problems:
        print(f"{arguments.archive}: {problem}")
    if problems:
        return INVALID
    print(f"{arguments.archive}: valid")
    return OK


def _upload(arguments: argparse.Namespace, clients: Clients) -> int:
    from modelctl import aws

    target = aws.discover(clients("ssm", arguments.region), arguments.env, arguments.endpoint)
    # --component is how an inference component's archive is named; it goes where a container's would.
    member, option = (
        (arguments.component, "--component")
        if arguments.component is not None
        else (arguments.container, "--container")
    )
    key = aws.archive_key(target, member, arguments.target_model, arguments.archive.name, option=option)
    container = target.container(member, option=option)
    layout = arguments.layout or (container["layout"] if container else target.layout)
    # The file's name under the folder is what SageMaker is asked for: TargetModel, or the container's key.
    folder = key.rsplit("/", 1)[0] + "/"
    problems = [str(p) for p in check_key(key, folder) + _report(arguments.archive, layout, arguments.quiet).problems]
    if problems:
        for problem in problems:
            print(f"{arguments.archive}: {problem}")
        print(f"not uploaded: fix the archive first (modelctl validate --layout {layout})", file=sys.stderr)
        return INVALID
    s3 = clients("s3", arguments.region)
    bars = progress.bars(quiet=arguments.quiet)
    with bars(f"uploading {arguments.archive.name}", arguments.archive.stat().st_size) as advance:
        aws.upload(s3, target, arguments.archive, key, progress=advance)
    print(f"uploaded s3://{target.bucket}/{key} ({layout} layout)")
    if arguments.wait <= 0:
        return OK
    verdict = aws.wait_for_verdict(s3, target.bucket, key, timeout=arguments.wait)
    if verdict is None:
        print(
            f"no verdict from the artifact guard within {arguments.wait:g} s: check with modelctl list", file=sys.stderr
        )
        return NO_VERDICT
    print(f"guard verdict: {verdict[0]}" + (f" ({verdict[1]})" if verdict[1] else ""))
    return OK if verdict[0] == VALID else INVALID


def _list(arguments: argparse.Namespace, clients: Clients) -> int:
    from modelctl import aws

    target = aws.discover(clients("ssm", arguments.region), arguments.env, arguments.endpoint)
    rows = aws.list_models(clients("s3", arguments.region), target)
    if arguments.json:
        member = {aws.MULTI_CONTAINER: "container", aws.INFERENCE_COMPONENTS: "component"}.get(target.kind)
        _print_json(
            {
                "endpoint": target.endpoint_name,
                "kind": target.kind,
                "bucket": target.bucket,
                "folders": [folder for _, folder in target.folders()],
                "archives": [
                    {
                        "name": row.target_model,
                        "container": row.container if member == "container" else None,
                        "component": row.container if member == "component" else None,
                        "key": row.key,
                        "bytes": row.size,
                        "uploaded": row.uploaded.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "version_id": row.version_id,
                        "verdict": row.verdict,
                    }
                    for row in rows
                ],
            }
        )
        return OK
    name = {aws.MULTI_MODEL: "TargetModel", aws.INFERENCE_COMPONENTS: "component / archive"}.get(
        target.kind, "container / archive"
    )
    print(f"{name:<40} {'bytes':>12}  {'uploaded (UTC)':<20} verdict")
    for row in rows:
        label = row.target_model if row.container is None else f"{row.container} / {row.target_model}"
        print(f"{label:<40} {row.size:>12}  {row.uploaded:%Y-%m-%d %H:%M:%S}  {row.verdict}")
    places = ", ".join(f"s3://{target.bucket}/{folder}" for _, folder in target.folders())
    print(f"{len(rows)} archive(s) under {places}")
    return OK


def _rescan(arguments: argparse.Namespace, clients: Clients) -> int:
    from modelctl import aws

    ssm = clients("ssm", arguments.region)
    function = aws.parameter(
        ssm,
        ssm_paths.model_store_parameter(arguments.env, ssm_paths.ARTIFACT_GUARD_FUNCTION),
        f"environment {arguments.env!r} has no artifact guard",
    )
    if arguments.endpoint:
        names = [arguments.endpoint]
    else:
        pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=ssm_paths.artifacts_path(arguments.env) + "/")
        names = [p["Name"].rsplit("/", 1)[1] for page in pages for p in page["Parameters"]]
    s3 = clients("s3", arguments.region)
    lambda_client = clients("lambda", arguments.region)
    pending = []
    for name in names:
        target = aws.discover(ssm, arguments.env, name)
        rows = aws.list_models(s3, target)
        sent = aws.rescan(lambda_client, function, target.bucket, rows)
        print(f"{target.endpoint_name}: {len(rows)} archive(s), {len(sent)} sent to the guard")
        pending += [(target.bucket, key) for key in sent]
    failed = 0
    if arguments.wait > 0:
        for bucket, key in pending:
            verdict = aws.wait_for_verdict(s3, bucket, key, timeout=arguments.wait)
            print(f"  {key}: {verdict[0] if verdict else 'no verdict yet'}")
            failed += verdict is None or verdict[0] != VALID
    return INVALID if failed else OK


def _preflight(arguments: argparse.Namespace, clients: Clients) -> int:
    from modelctl import preflight

    needed = preflight.requirements(arguments.assembly, arguments.env)
    s3 = clients("s3", arguments.region)
    checked = [(requirement, preflight.check(s3, arguments.env, [requirement])) for requirement in needed]
    findings = [finding for _, found in checked for finding in found]
    if arguments.json:
        _print_json(
            {
                "environment": arguments.env,
                "assembly": str(arguments.assembly),
                "ready": not findings,
                "needed": len(needed),
                "valid": len(needed) - len(findings),
                "archives": [
                    {
                        "uri": f"s3://{r.bucket}/{r.key}",
                        "bucket": r.bucket,
                        "key": r.key,
                        "needed_by": r.needed_by,
                        "endpoint": r.endpoint or None,
                        "container": r.container,
                        "component": r.component,
                        "target_model": r.target_model,
                        "layout": r.layout,
                        "state": found[0].state if found else VALID,
                        "fix": found[0].fix if found else None,
                    }
                    for r, found in checked
                ],
            }
        )
        return INVALID if findings else OK
    for finding in findings:
        print(finding)
    print(f"{len(needed) - len(findings)} of {len(needed)} archive(s) the {arguments.env} stage needs are valid")
    return INVALID if findings else OK


def _invoke(arguments: argparse.Namespace, clients: Clients) -> int:
    from modelctl import aws

    entry = aws.catalog_entry(clients("ssm", arguments.region), arguments.env, arguments.endpoint)
    component = aws.inference_component(entry, arguments.component)
    body = arguments.body.read_bytes()
    answer = aws.invoke(
        clients("sagemaker-runtime", arguments.region),
        naming.deployed_endpoint_name(arguments.env, arguments.endpoint),
        body,
        arguments.content_type,
        target_model=arguments.target_model,
        target_container=arguments.target_container,
        inference_component=component,
        accept=arguments.accept,
    )
    sys.stdout.write(answer.decode(errors="replace") + "\n")
    return OK


def _loadtest(arguments: argparse.Namespace, clients: Clients) -> int:
    from modelctl import aws, loadtest

    entry = aws.catalog_entry(clients("ssm", arguments.region), arguments.env, arguments.endpoint)
    if arguments.component is None:
        aws.inference_component(entry, None)  # an endpoint of inference components needs --component
        components = []
    else:
        components = aws.inference_components(entry, arguments.component.split(","))
    models = components or [m for m in arguments.models.split(",") if m]
    if not models:
        raise ModelctlError(f"--models {arguments.models!r}: name at least one TargetModel")
    body = arguments.body.read_bytes()
    runtime = clients("sagemaker-runtime", arguments.region, loadtest.client_config(arguments.concurrency))
    throttles = loadtest.Throttles()
    throttles.attach(runtime)
    name = naming.deployed_endpoint_name(arguments.env, arguments.endpoint)

    def invoke(target: str) -> bytes:
        if components:
            return aws.invoke(runtime, name, body, arguments.content_type, inference_component=target)
        return aws.invoke(runtime, name, body, arguments.content_type, target_model=target)

    result = loadtest.run(
        invoke,
        models,
        requests=arguments.requests,
        concurrency=arguments.concurrency,
        time_limit=arguments.time_limit,
    )
    result.throttled = throttles.count
    print("\n".join(result.lines()))
    return OK if not any(s.errors for s in result.per_model.values()) else INVALID


def _retire(arguments: argparse.Namespace, clients: Clients) -> int:
    from modelctl import aws, preflight

    target = aws.discover(clients("ssm", arguments.region), arguments.env, arguments.endpoint)
    model = arguments.model
    if not arguments.skip_canary_check:
        try:
            canaries = preflight.canaries(arguments.assembly, arguments.env, target.endpoint_name)
        except aws.NotFoundError as error:
            raise aws.NotFoundError(
                f"cannot tell whether {model} is a smoke-test canary of {target.endpoint_name}: the artifact catalog "
                f"does not name canaries, the synthesized smoke tests do, and {error}; or pass --skip-canary-check "
                "if you know it is not one"
            ) from error
        if model in canaries:
            raise ModelctlError(
                f"{model} is a canary of {target.endpoint_name}'s smoke test, which every deploy invokes: retiring it "
                "would fail the next deploy. Point the smoke test at another model in the configuration, deploy, "
                "then retire it"
            )
    retirement = aws.retire(clients("s3", arguments.region), target, model, dry_run=arguments.dry_run)
    where = f"s3://{retirement.bucket}/{retirement.key}"
    if arguments.dry_run:
        print(f"would retire {where}: a delete marker would hide its current version {retirement.version_id}")
    else:
        print(f"retired {where}: a delete marker hides version {retirement.version_id} (kept, not destroyed)")
    print(
        f"SageMaker: instances that loaded {model} keep serving it from memory or disk until they evict it for other "
        "models; an instance without a copy can no longer load it. Clients must stop sending this TargetModel."
    )
    print("to restore it, while the bucket keeps noncurrent versions (noncurrent_version_expiration_days):")
    print(f"  {retirement.restore_command(arguments.region)}")
    return OK


_COMMANDS: dict[str, Callable[[argparse.Namespace, Clients], int]] = {
    "package": _package,
    "validate": _validate,
    "upload": _upload,
    "list": _list,
    "rescan": _rescan,
    "preflight": _preflight,
    "invoke": _invoke,
    "loadtest": _loadtest,
    "retire": _retire,
}
