"""The modelctl command line. User errors print one line and exit non-zero; never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hosting_contract import naming, ssm_paths
from hosting_contract.archive_rules import VALID, Layout, Limits, check_archive, check_key
from modelctl.packaging import PackagingError, package_directory

#: Exit statuses.
OK, INVALID, USAGE, NO_VERDICT = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelctl", description="Package, validate, upload, list, invoke and load-test SageMaker models."
    )
    commands = parser.add_subparsers(dest="command", required=True)

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

    package = commands.add_parser("package", help="write a deterministic NAME.tar.gz from a directory")
    package.add_argument("directory", type=Path)
    package.add_argument("-o", "--output", type=Path, required=True, help="the archive to write (NAME.tar.gz)")
    layout(package)

    validate = commands.add_parser("validate", help="check an archive with the artifact guard's rules")
    validate.add_argument("archive", type=Path)
    layout(validate)

    upload = commands.add_parser("upload", help="validate, upload under the endpoint's prefix, wait for the guard")
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
    upload.add_argument("--wait", type=float, default=120, help="seconds to wait for the guard's verdict (0: no wait)")
    layout(upload, default=None)

    listing = commands.add_parser("list", help="an endpoint's archives with the guard's verdicts")
    place(listing)

    rescan = commands.add_parser(
        "rescan", help="have the guard check archives it has no verdict of its own on (uploaded before it existed)"
    )
    place(rescan, endpoint_required=False)
    rescan.add_argument("--wait", type=float, default=0, help="seconds to wait for the verdicts (0: no wait)")

    preflight = commands.add_parser(
        "preflight", help="before deploying Hosting: is every archive the synthesized stage needs there, and valid?"
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
    load.add_argument("--concurrency", type=int, default=4)
    load.add_argument(
        "--requests", type=int, default=100, help="requests in all, round-robin over the models or components"
    )
    load.add_argument("--time-limit", type=float, default=300, help="stop sending after this many seconds")
    load.add_argument("--body", type=Path, required=True)
    load.add_argument("--content-type", default="text/csv")
    return parser


def main(argv: Sequence[str], *, clients: Callable[[str, str | None], Any] | None = None) -> int:
    """Run modelctl; ``clients(service, region)`` makes boto3 clients (tests pass their own)."""
    arguments = _parser().parse_args(argv)
    try:
        return _COMMANDS[arguments.command](arguments, clients or _boto3_client)
    except PackagingError as error:
        print(f"error: {error}", file=sys.stderr)
        return INVALID
    except OSError as error:
        print(f"error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return USAGE
    except Exception as error:
        # botocore's errors and ours: the message is what the user needs, not the stack.
        from botocore.exceptions import BotoCoreError, ClientError

        from modelctl.aws import ModelctlError

        if isinstance(error, ModelctlError | ClientError | BotoCoreError):
            print(f"error: {error}", file=sys.stderr)
            return USAGE
        raise


def _boto3_client(service: str, region: str | None) -> Any:
    import boto3

    # boto3's stubs type client() per literal service name; ours is chosen at run time.
    make: Any = boto3.client
    return make(service, region_name=region)


def _report(archive: Path, layout: str) -> list[str]:
    with archive.open("rb") as stream:
        report = check_archive(stream, layout=Layout(layout), limits=Limits())
    return [str(p) for p in report.problems]


def _package(arguments: argparse.Namespace, _: Callable[[str, str | None], Any]) -> int:
    size = package_directory(arguments.directory, arguments.output, layout=Layout(arguments.layout))
    print(f"wrote {arguments.output} ({size} bytes)")
    return OK


def _validate(arguments: argparse.Namespace, _: Callable[[str, str | None], Any]) -> int:
    # The file's name is what it would be uploaded as (its TargetModel), unless --as says otherwise.
    problems = [str(p) for p in check_key(arguments.archive.name, "")] + _report(arguments.archive, arguments.layout)
    for problem in problems:
        print(f"{arguments.archive}: {problem}")
    if problems:
        return INVALID
    print(f"{arguments.archive}: valid")
    return OK


def _upload(arguments: argparse.Namespace, clients: Callable[[str, str | None], Any]) -> int:
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
    problems = [str(p) for p in check_key(key, folder)] + _report(arguments.archive, layout)
    if problems:
        for problem in problems:
            print(f"{arguments.archive}: {problem}")
        print(f"not uploaded: fix the archive first (modelctl validate --layout {layout})", file=sys.stderr)
        return INVALID
    s3 = clients("s3", arguments.region)
    aws.upload(s3, target, arguments.archive, key)
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


def _list(arguments: argparse.Namespace, clients: Callable[[str, str | None], Any]) -> int:
    from modelctl import aws

    target = aws.discover(clients("ssm", arguments.region), arguments.env, arguments.endpoint)
    rows = aws.list_models(clients("s3", arguments.region), target)
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


def _rescan(arguments: argparse.Namespace, clients: Callable[[str, str | None], Any]) -> int:
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


def _preflight(arguments: argparse.Namespace, clients: Callable[[str, str | None], Any]) -> int:
    from modelctl import preflight

    needed = preflight.requirements(arguments.assembly, arguments.env)
    findings = preflight.check(clients("s3", arguments.region), arguments.env, needed)
    for finding in findings:
        print(finding)
    print(f"{len(needed) - len(findings)} of {len(needed)} archive(s) the {arguments.env} stage needs are valid")
    return INVALID if findings else OK


def _invoke(arguments: argparse.Namespace, clients: Callable[[str, str | None], Any]) -> int:
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


def _loadtest(arguments: argparse.Namespace, clients: Callable[[str, str | None], Any]) -> int:
    from modelctl import aws, loadtest

    entry = aws.catalog_entry(clients("ssm", arguments.region), arguments.env, arguments.endpoint)
    if arguments.component is None:
        aws.inference_component(entry, None)  # an endpoint of inference components needs --component
        components = []
    else:
        components = aws.inference_components(entry, arguments.component.split(","))
    body = arguments.body.read_bytes()
    runtime = clients("sagemaker-runtime", arguments.region)
    name = naming.deployed_endpoint_name(arguments.env, arguments.endpoint)

    def invoke(target: str) -> bytes:
        if components:
            return aws.invoke(runtime, name, body, arguments.content_type, inference_component=target)
        return aws.invoke(runtime, name, body, arguments.content_type, target_model=target)

    result = loadtest.run(
        invoke,
        components or [m for m in arguments.models.split(",") if m],
        requests=arguments.requests,
        concurrency=arguments.concurrency,
        time_limit=arguments.time_limit,
    )
    print("\n".join(result.lines()))
    return OK if not any(s.errors for s in result.per_model.values()) else INVALID


_COMMANDS: dict[str, Callable[[argparse.Namespace, Callable[[str, str | None], Any]], int]] = {
    "package": _package,
    "validate": _validate,
    "upload": _upload,
    "list": _list,
    "rescan": _rescan,
    "preflight": _preflight,
    "invoke": _invoke,
    "loadtest": _loadtest,
}
