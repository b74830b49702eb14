"""HardenedFunction: every Lambda function of the project, with one set of security defaults."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

import hosting_contract
from constructs_lib.compliance import HIPAA_AND_NIST, acknowledge_control_rule, default_policy

#: The functions' code, one folder each (package data of ``constructs_lib``: it ships in the wheel).
FUNCTIONS_DIR = Path(__file__).resolve().parent / "functions"
#: What several functions share: a module (one file, imported by its bare name) or a package (a folder, imported
#: by its package name), copied into their assets.
CFN_RESPONSE = FUNCTIONS_DIR / "shared" / "cfn_response.py"
#: The contract shared with the CLI and the constructs, imported as ``hosting_contract.<module>`` everywhere.
CONTRACT = Path(hosting_contract.__file__).resolve().parent
#: What each function of ``functions/`` imports from outside its folder (bundled beside its own files).
SHARED_MODULES: dict[str, tuple[Path, ...]] = {
    "artifact_guard": (CONTRACT,),
    "scaling_guard": (CFN_RESPONSE, CONTRACT),
    "smoke_test": (CFN_RESPONSE,),
}


def _copy_package(source: Path, target: Path) -> None:
    """The package's Python files at ``target``, in its folders (no caches, no links)."""
    for path in sorted(source.rglob("*.py")):
        relative = path.relative_to(source)
        if "__pycache__" in relative.parts:
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / relative)


@functools.cache
def asset_folder(folder: str) -> Path:
    """A folder with ``functions/<folder>``'s modules and the shared modules and packages it imports, side by side.

    Built once per process in a temporary folder (removed when the process ends); the CDK copies it into the
    cloud assembly at synth and names the asset by a hash of its contents, so the asset is the same wherever
    the folder was. Unlike CDK bundling, this prints nothing, so a configuration error stays one line.
    """
    staged = Path(tempfile.mkdtemp(prefix=f"lambda-{folder}-"))
    atexit.register(shutil.rmtree, staged, ignore_errors=True)
    for source in sorted((FUNCTIONS_DIR / folder).glob("*.py")):
        shutil.copyfile(source, staged / source.name)
    for source in SHARED_MODULES.get(folder, ()):
        if (staged / source.name).exists():
            raise ValueError(f"{source.name} is both in functions/{folder} and shared: keep one")
        if source.is_dir():
            _copy_package(source, staged / source.name)
        else:
            shutil.copyfile(source, staged / source.name)
    return staged


#: The newest Python runtime this aws-cdk-lib knows (cdk-nag's AwsSolutions-L1 asks for exactly that); the
#: handlers also run on the project's Python 3.11, where their tests run.
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14


#: Why a function that backs custom resources needs no dead-letter queue.
_CUSTOM_RESOURCE_ONLY = (
    "Backs a custom resource: its handler answers CloudFormation on every path and ServiceTimeout "
    "bounds the wait otherwise, so a dead-letter queue would hold nothing CloudFormation was not told."
)


class HardenedFunction(Construct):
    """A function from ``functions/<folder>`` with its own role, an encrypted log group kept a year, and the
    reviewed acknowledgments of the findings that cannot apply to it (reserved concurrency, VPC, the role's
    inline policy; a dead-letter queue when it backs a custom resource, whose every outcome goes to CloudFormation).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        folder: str,
        description: str,
        log_encryption_key: kms.IKey | None = None,
        timeout: cdk.Duration | None = None,
        memory_size: int = 256,
        environment: Mapping[str, str] | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        retry_attempts: int | None = None,
        without_dead_letters: str = _CUSTOM_RESOURCE_ONLY,
    ) -> None:
        """Create the function from ``functions/<folder>`` and the shared modules it imports (``SHARED_MODULES``).

        :param log_encryption_key: KMS key of the log group (its policy must allow CloudWatch Logs). Default:
            CloudWatch Logs' own encryption, acknowledged as such.
        :param dead_letter_queue: where failed asynchronous invocations go. Leave it out only for functions
            that back custom resources: CloudFormation invokes them asynchronously, but their handlers answer
            CloudFormation on every path, and the resource's ServiceTimeout bounds the wait otherwise.
        :param retry_attempts: retries of asynchronous invocations (0-2). Default: Lambda's (2).
        :param without_dead_letters: why no dead-letter queue is needed (the compliance acknowledgment), for a
            function that does more than back custom resources.
        """
        super().__init__(scope, construct_id)
        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=log_encryption_key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        """The function's role; grant to it, then call ``acknowledge_inline_policy``."""
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=LAMBDA_RUNTIME,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(asset_folder(folder))),
            timeout=timeout or cdk.Duration.minutes(5),
            memory_size=memory_size,
            role=self.role,
            log_group=log_group,
            environment=dict(environment) if environment else None,
            dead_letter_queue=dead_letter_queue,
            retry_attempts=retry_attempts,
            description=description,
        )
        """The function."""
        self.async_invoke_config: IConstruct | None = (
            self.function.node.find_child("EventInvokeConfig") if retry_attempts is not None else None
        )
        """Its asynchronous-invocation settings (``retry_attempts``), if set."""
        log_group.grant_write(self.role)
        resource = self.function.node.default_child
        assert resource is not None
        if dead_letter_queue is None:
            acknowledge_control_rule(
                resource,
                "LambdaDLQ",
                without_dead_letters,
                packs=HIPAA_AND_NIST,
            )
        acknowledge_control_rule(
            resource,
            "LambdaConcurrency",
            "Invoked a few times per deployment or upload; reserving concurrency would take capacity from the "
            "account's pool and fails in accounts at the minimum unreserved concurrency.",
            packs=HIPAA_AND_NIST,
        )
        acknowledge_control_rule(
            resource,
            "LambdaInsideVPC",
            "The function calls only AWS APIs; a VPC would add NAT or interface endpoints without reducing "
            "what it can reach.",
        )
        if log_encryption_key is None:
            acknowledge_control_rule(
                log_group.node.default_child or log_group,
                "CloudWatchLogGroupEncrypted",
                "The log holds resource names and outcomes only; CloudWatch Logs encrypts it with its own key.",
            )

    def backs(self, custom_resource: IConstruct) -> None:
        """Declare ``custom_resource`` answered by this function: it waits for the function's ``retry_attempts``.

        CloudFormation invokes the function asynchronously, and nothing else orders the two on a first deploy: the
        custom resource could be created before the setting exists, and Lambda would retry with its defaults
        (Lambda Developer Guide, "Asynchronous invocation").
        """
        if self.async_invoke_config is not None:
            custom_resource.node.add_dependency(self.async_invoke_config)

    def acknowledge_inline_policy(self) -> None:
        """Call after the grants, which create the role's default (inline) policy."""
        acknowledge_control_rule(
            default_policy(self.role), "IAMNoInlinePolicy", "This policy belongs to the function's own role only."
        )
