"""Helpers shared by the tests: apps that read cdk.json's context, compliance findings, the session's synthesis
of every stage as ``cdk synth`` makes it (``Synthesis``), the mocked account (``Moto``), and the tests' own
configuration (``feature_environment``), which feature tests use instead of the shipped examples."""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: a test of modelctl or a Lambda function starts no Node
    import aws_cdk as cdk
    from constructs import IConstruct

    from stacks.compliance import Finding

ROOT = Path(__file__).resolve().parents[1]


def cdk_context(**overrides: Any) -> dict[str, Any]:
    """cdk.json's context (feature flags) plus ``overrides``: a bare ``cdk.App()`` does not read cdk.json.

    Like the CDK CLI, it asks for construct paths in resource metadata (the review report reads them).
    """
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    context["aws:cdk:enable-path-metadata"] = True
    context.update(overrides)
    return context


def make_app(**overrides: Any) -> cdk.App:
    """An App with the project's feature flags, as ``cdk synth`` would build it."""
    import aws_cdk as cdk

    return cdk.App(context=cdk_context(**overrides))


def compliance_findings(app: cdk.App) -> list[Finding]:
    """Synthesize ``app`` and return every unacknowledged finding, as ``make synth`` would report it.

    The app must be built with ``@aws-cdk/core:failSynthOnValidationErrors`` false, or synthesis raises
    instead of reporting.
    """
    from stacks.compliance import unacknowledged_findings

    return unacknowledged_findings(app.synth().directory)


def acknowledgments(root: IConstruct) -> Iterator[Finding]:
    """Every acknowledgment attached anywhere under ``root``, as (rule, construct path)."""
    import aws_cdk as cdk

    from stacks.compliance import Finding

    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for key in entry.data:
                    yield Finding(key.removeprefix("Annotation::"), construct.node.path)


def as_list(value: Any) -> list[Any]:
    """An IAM policy field (Action, Resource, a condition's values): one value or a list of them."""
    return value if isinstance(value, list) else [value]


def policy_allows(
    statements: list[dict[str, Any]],
    action: str,
    resource: Any,
    context: dict[str, str],
    *,
    principal: str | None = None,
) -> bool:
    """IAM's verdict on ``action`` on ``resource`` under these policy statements, with the request's condition keys
    ``context`` (e.g. ``{"s3:ExistingObjectTag/guard-verdict": "valid"}``): allowed when an Allow matches and no
    Deny does (IAM User Guide, "Policy evaluation logic"). An identity policy's statements name no principal; a
    resource policy's are asked for the service ``principal`` (``cloudwatch.amazonaws.com``).

    A statement matches when its principal, its action pattern, its resource (an ARN pattern, or the very token
    given) and every condition match: StringEquals, Bool, ArnEquals and ArnLike, a key missing from ``context``
    matching none ("IAM JSON policy elements: Condition operators"). Any other operator, NotAction or NotResource
    fails the test: the evaluator would need it."""

    def principal_matches(statement: dict[str, Any]) -> bool:
        if principal is None:
            assert "Principal" not in statement, f"a resource policy's statement, asked as an identity's: {statement}"
            return True
        who = statement.get("Principal")
        return who in ({"AWS": "*"}, "*") or (isinstance(who, dict) and principal in as_list(who.get("Service", [])))

    def condition_holds(operator: str, key: str, wanted: Any) -> bool:
        assert operator in ("StringEquals", "ArnEquals", "Bool", "ArnLike"), (
            f"an evaluator for {operator} is needed here"
        )
        actual = context.get(key)
        values = as_list(wanted)
        if actual is None:
            return False
        if operator in ("StringEquals", "ArnEquals"):
            return actual in values
        if operator == "Bool":
            return actual.lower() in [str(v).lower() for v in values]
        return any(fnmatch.fnmatchcase(actual, v) for v in values)

    def matches(statement: dict[str, Any]) -> bool:
        assert not {"NotAction", "NotResource"} & set(statement), f"an evaluator for {statement} is needed here"
        if not principal_matches(statement):
            return False
        if not any(fnmatch.fnmatchcase(action, a) for a in as_list(statement["Action"])):
            return False
        resources = as_list(statement["Resource"])
        if isinstance(resource, str):
            if not any(isinstance(r, str) and fnmatch.fnmatchcase(resource, r) for r in resources):
                return False
        elif resource not in resources and "*" not in resources:
            return False
        return all(
            condition_holds(operator, key, wanted)
            for operator, pairs in statement.get("Condition", {}).items()
            for key, wanted in pairs.items()
        )

    relevant = [s for s in statements if matches(s)]
    return any(s["Effect"] == "Allow" for s in relevant) and not any(s["Effect"] == "Deny" for s in relevant)


#: The IAM action S3 authorizes each object or bucket operation as, without and with a version id in the request
#: (Amazon S3 API Reference, each operation's "Permissions": HeadObject needs s3:GetObject, ListObjectsV2
#: s3:ListBucket, ListObjectVersions s3:ListBucketVersions; Service Authorization Reference, "Actions defined by
#: Amazon S3": the *Version* actions for a request naming a version). A multipart upload's or copy's requests are
#: writes of the destination: s3:PutObject.
S3_ACTIONS = {
    "GetObject": ("s3:GetObject", "s3:GetObjectVersion"),
    "HeadObject": ("s3:GetObject", "s3:GetObjectVersion"),
    "GetObjectTagging": ("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
    "PutObjectTagging": ("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
    "DeleteObject": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
    "PutObject": ("s3:PutObject", "s3:PutObject"),
    "CreateMultipartUpload": ("s3:PutObject", "s3:PutObject"),
    "UploadPart": ("s3:PutObject", "s3:PutObject"),
    "UploadPartCopy": ("s3:PutObject", "s3:PutObject"),
    "CompleteMultipartUpload": ("s3:PutObject", "s3:PutObject"),
    "ListObjectsV2": ("s3:ListBucket", "s3:ListBucket"),
    "ListObjectVersions": ("s3:ListBucketVersions", "s3:ListBucketVersions"),
    "GetBucketVersioning": ("s3:GetBucketVersioning", "s3:GetBucketVersioning"),
}


#: cfn-lint's rules ``make test`` ignores: W3005 (redundant DependsOn) is emitted by the CDK itself.
CFN_LINT_IGNORED = ("W3005",)


@functools.cache
def _cfn_lint_runner(region: str) -> Any:
    """cfn-lint's runner for ``region``, W3005 aside, as ``cfnlint.api.lint`` builds it for each call. Built once
    per process: building it loads every rule module (0.7 s), and cfn-lint's own CLI runs one over every template
    it is given."""
    from cfnlint.api import ManualArgs
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn(**ManualArgs(regions=[region], ignore_checks=list(CFN_LINT_IGNORED))))


def cfn_lint(template: dict[str, Any], region: str = "eu-west-1") -> list[str]:
    """cfn-lint's findings on ``template`` (``RULE: message``), as ``make test`` runs it (W3005 aside): what
    ``cfnlint.api.lint`` returns, with the rules loaded once per process."""
    from cfnlint.decode.decode import decode_str

    from tests.tracing import untraced

    def lint() -> list[Any]:
        decoded, errors = decode_str(json.dumps(template))
        return list(errors) if errors else list(_cfn_lint_runner(region).validate_template(decoded))

    return [f"{m.rule.id}: {m.message}" for m in untraced(lint)()]


def byoc_model_handler() -> Any:
    """``images/multi-model-server/model_handler.py``, the BYOC image's handler, imported from its file (the image
    is not a package)."""
    import importlib.util

    path = ROOT / "images" / "multi-model-server" / "model_handler.py"
    spec = importlib.util.spec_from_file_location("byoc_model_handler", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lambda_module(function: str, module: str) -> Any:
    """Import ``constructs_lib/functions/<function>/<module>.py`` as Lambda would: its folder, plus the shared
    modules its asset bundles (``SHARED_MODULES``), importable by their bare names, and the shared packages
    (``hosting_contract``), importable by their package names from the very folder the asset copies."""
    import importlib
    import importlib.util
    import sys

    from constructs_lib.hardened_function import FUNCTIONS_DIR, SHARED_MODULES

    for path in SHARED_MODULES.get(function, ()):
        if path.is_dir():
            package = importlib.import_module(path.name)
            assert package.__file__ is not None
            assert Path(package.__file__).resolve().parent == path.resolve(), f"{path.name} is not {path}"
            continue
        loaded = sys.modules.get(path.stem)
        if loaded is None or getattr(loaded, "__file__", None) != str(path):
            spec = importlib.util.spec_from_file_location(path.stem, path)
            assert spec is not None
            assert spec.loader is not None
            shared = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = shared
            spec.loader.exec_module(shared)
    folder = str(FUNCTIONS_DIR / function)
    if folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)  # first, so that its handler.py wins over another function's
    shared_names = {path.stem for path in SHARED_MODULES.get(function, ()) if not path.is_dir()}
    for sibling in {"handler", module} - shared_names:
        loaded = sys.modules.get(sibling)
        if loaded is not None and not str(getattr(loaded, "__file__", "")).startswith(folder):
            del sys.modules[sibling]  # another function's module of the same name
    return importlib.import_module(module)


def hosting_stack() -> Any:
    """An empty stack in the examples' account and region, as the Hosting stack would be."""
    import aws_cdk as cdk

    return cdk.Stack(make_app(), "Hosting", env=cdk.Environment(account="111111111111", region="eu-west-1"))


def multi_model_endpoint(stack: Any, *, instances: int = 1) -> Any:
    """A one-variant XGBoost multi-model endpoint ``mme`` in ``stack`` (construct id ``Mme``)."""
    from aws_cdk import aws_s3 as s3

    from constructs_lib import ModelPrefix, MultiModelEndpoint, ProductionVariant, ServingImage

    return MultiModelEndpoint(
        stack,
        "Mme",
        endpoint_name="mme",
        image=ServingImage.from_registry("141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"),
        model_prefix=ModelPrefix.for_endpoint(
            bucket=s3.Bucket.from_bucket_name(stack, "B", "models"), endpoint_name="mme"
        ),
        variants=[ProductionVariant(instance_type="ml.m5.xlarge", initial_instance_count=instances)],
    )


# -- the stages as `cdk synth` synthesizes them ------------------------------------------------------------------

#: What the CDK CLI (package.json's aws-cdk) adds to cdk.json's context when it runs ``app.py``: read from the
#: ``CDK_CONTEXT_JSON`` the CLI hands the app (``cdk synth --app 'python dump-environment.py'``). The
#: ``asset`` and ``version-reporting`` keys change the templates (asset metadata, ``CDKMetadata``), so an
#: in-process synthesis that must equal the CLI's needs them all.
CLI_CONTEXT: dict[str, Any] = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": True,
    "aws:cdk:bundling-stacks": ["**"],
    "@aws-cdk/core:failSynthOnValidationErrors": False,
}

#: The variable naming a folder for the session's synthesis (``HOSTING_SYNTH_OUT=cdk.out``): the cloud assembly
#: ``cdk synth --output`` would write there (``assembly-<Stage>/``, assets, manifest, validation report).
SYNTH_OUT_VARIABLE = "HOSTING_SYNTH_OUT"


def cli_context() -> dict[str, Any]:
    """cdk.json's context plus what the CDK CLI adds: the context ``app.py`` sees under ``cdk synth``."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    context.update(CLI_CONTEXT)
    return context


@dataclass
class Synthesis:
    """Every configured stage, built and synthesized by ``app.main`` exactly as ``cdk synth`` runs ``app.py``.

    ``status`` and ``stderr`` are what ``main`` returned and printed (0 and nothing when every stage is clean).
    Templates are read back from the assembly on disk, a fresh copy on each call, so no test sees another's edits.
    """

    app: cdk.App
    stages: list[Any]
    outdir: Path
    status: int
    stderr: str
    _texts: dict[str, str] = field(default_factory=dict, repr=False)

    def stage(self, name: str) -> Any:
        """The stage of the environment named ``name`` (``dev``, not ``Dev``)."""
        return next(s for s in self.stages if s.config.name == name)

    def template(self, stack: cdk.Stack) -> dict[str, Any]:
        """``stack``'s synthesized template (what ``Template.from_stack(stack).to_json()`` returns), as a new dict."""
        import aws_cdk as cdk

        path = str(Path(cdk.Stage.of(stack).outdir) / stack.template_file)  # type: ignore[union-attr]
        if path not in self._texts:
            self._texts[path] = Path(path).read_text()
        template: dict[str, Any] = json.loads(self._texts[path])
        return template

    def acknowledgments(self) -> set[Finding]:
        """Every acknowledgment in the app, as ``acknowledgments(app)`` finds them, without asking Node about each
        construct (thousands of calls): the CDK writes each stack's construct metadata, acknowledgments included,
        into the assembly (``<stack>.metadata.json``; a nested stage's assembly sits in its parent's folder). What
        no stack holds (the app, the stages, anything else in them) is read from the tree."""
        import aws_cdk as cdk

        from stacks.compliance import Finding

        found = {
            Finding(key.removeprefix("Annotation::"), path.lstrip("/"))
            for metadata in self.outdir.rglob("*.metadata.json")
            for path, entries in json.loads(metadata.read_text()).items()
            for entry in entries
            if entry["type"] == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
            for key in entry["data"]
        }
        found.update(_outside_stacks(self.app))
        return found

    def resources(self, stack: cdk.Stack, resource_type: str | None = None) -> dict[str, dict[str, Any]]:
        """``stack``'s resources by logical id (of ``resource_type`` only, if given), as ``find_resources`` would."""
        resources: dict[str, dict[str, Any]] = self.template(stack).get("Resources", {})
        return {k: r for k, r in resources.items() if resource_type is None or r["Type"] == resource_type}


def _outside_stacks(container: IConstruct) -> Iterator[Finding]:
    """The acknowledgments on ``container`` (the app or a stage) and under it outside its stacks."""
    import aws_cdk as cdk

    from stacks.compliance import Finding

    for entry in container.node.metadata:
        if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
            yield from (Finding(key.removeprefix("Annotation::"), container.node.path) for key in entry.data)
    for child in container.node.children:
        if cdk.Stage.is_stage(child):
            yield from _outside_stacks(child)
        elif not cdk.Stack.is_stack(child):
            yield from acknowledgments(child)


def synthesize_like_the_cli(outdir: Path, environments: tuple[Any, ...] | None = None) -> Synthesis:
    """Run ``app.main`` on an App with the CLI's context and output folder, as ``cdk synth --output outdir`` would.

    ``outdir`` must be missing or empty, or hold an earlier cloud assembly (replaced: a stage removed from the
    configuration must not linger in it).
    """
    import contextlib
    import io
    import shutil

    import aws_cdk as cdk

    import app as app_module
    from stacks.stage import ModelHostingStage

    if outdir.exists() and any(outdir.iterdir()):
        if not (outdir / "manifest.json").is_file():
            raise ValueError(f"{outdir} is neither empty nor a cloud assembly: refusing to synthesize into it")
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    cdk_app = cdk.App(context=cli_context(), outdir=str(outdir))
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = app_module.main(cdk_app, environments)
    stages = [child for child in cdk_app.node.children if isinstance(child, ModelHostingStage)]
    return Synthesis(app=cdk_app, stages=stages, outdir=outdir, status=status, stderr=stderr.getvalue())


#: The prefix of the tests' endpoint of inference components ``dev-tabular``.
TABULAR_PREFIX = "models/dev-tabular/"


def tabular_artifacts() -> Any:
    """The catalog entry of ``dev-tabular``: one archive per component (``churn`` flat, ``fraud`` TensorFlow)."""
    from constructs_lib.artifact_catalog import ContainerArchive, EndpointArtifacts
    from hosting_contract.catalog_kinds import INFERENCE_COMPONENTS

    return EndpointArtifacts(
        endpoint_name="dev-tabular",
        prefix=TABULAR_PREFIX,
        kind=INFERENCE_COMPONENTS,
        containers=(
            ContainerArchive(hostname="churn", key=f"{TABULAR_PREFIX}churn/model.tar.gz"),
            ContainerArchive(hostname="fraud", key=f"{TABULAR_PREFIX}fraud/model.tar.gz", layout="tensorflow"),
        ),
    )


def mocked_clients(service: str, region: str | None, config: Any = None) -> Any:
    """modelctl's client factory (``clients=``) for the moto mock: boto3 clients, in the examples' region unless
    ``region`` says otherwise."""
    import boto3

    return boto3.client(service, region_name=region or Moto.region, config=config)  # type: ignore[call-overload]


class _PrivateKeyMadeWhenUsed:
    """A moto KMS key's private key, made the first time moto uses it (Sign, Verify, GetPublicKey)."""

    def __init__(self, make: Any, key_spec: str) -> None:
        self._make, self._key_spec, self._key = make, key_spec, None

    def __getattr__(self, name: str) -> Any:
        if self._key is None:
            self._key = self._make(self._key_spec)
        return getattr(self._key, name)


@contextlib.contextmanager
def kms_private_keys_made_when_used() -> Iterator[None]:
    """moto makes a private key for every KMS key it creates, symmetric ones included (an RSA-2048 key: about 80 ms,
    some 55 keys a run), for Sign, Verify and GetPublicKey, which no test here calls on them: each is made on first
    use instead, from the same key spec."""
    import moto.kms.models as kms

    make = kms.generate_private_key
    kms.generate_private_key = lambda key_spec: _PrivateKeyMadeWhenUsed(make, key_spec)
    try:
        yield
    finally:
        kms.generate_private_key = make


class Moto:
    """The mocked account: ``client(service)`` is a boto3 client of it, in the examples' region."""

    region = "eu-west-1"

    def client(self, service: str, **kwargs: Any) -> Any:
        import boto3

        return boto3.client(service, region_name=self.region, **kwargs)  # type: ignore[call-overload]

    def model_store(self, environment: str, bucket: str, catalog: dict[str, str], **more: str) -> Any:
        """The ModelStore as modelctl discovers it: the versioned artifact bucket, a KMS key, and the SSM parameters
        (bucket, key, each endpoint's ``catalog`` entry by deployed name, and ``more`` ModelStore parameters by
        key); returns the S3 client."""
        from hosting_contract import ssm_paths

        s3 = self.client("s3")
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        parameters = {
            ssm_paths.model_store_parameter(environment, ssm_paths.BUCKET_NAME): bucket,
            ssm_paths.model_store_parameter(environment, ssm_paths.KMS_KEY_ARN): self.client("kms").create_key()[
                "KeyMetadata"
            ]["Arn"],
            **{ssm_paths.model_store_parameter(environment, key): value for key, value in more.items()},
            **{ssm_paths.artifacts_parameter(environment, name): entry for name, entry in catalog.items()},
        }
        ssm = self.client("ssm")
        for name, value in parameters.items():
            ssm.put_parameter(Name=name, Value=value, Type="String")
        return s3


# -- the tests' own configuration ----------------------------------------------------------------------------------
# Feature tests build stages from these, not from the shipped examples (tests/examples.py), so that editing
# stacks/environments.py changes no expectation of a feature test. Same shape as the examples: one multi-model
# endpoint, a Direct and a Serial multi-container endpoint, each with a consumer; names of their own.


def _framework(framework: str, version: str, py_version: str | None = None) -> Any:
    from stacks.config import FrameworkImage, ImageConfig

    return ImageConfig(framework=FrameworkImage(framework=framework, version=version, py_version=py_version))


def feature_mme() -> Any:
    """A multi-model endpoint ``prices``: XGBoost, scaled on invocations with a night schedule, one consumer."""
    from constructs_lib.production_variant import ProductionVariant
    from stacks.config import ConsumerConfig, MultiModelEndpointConfig, ScalingConfig, ScheduleConfig

    return MultiModelEndpointConfig(
        name="prices",
        image=_framework("xgboost", "1.7-1"),
        variants=(ProductionVariant(instance_type="ml.m5.large", initial_instance_count=1),),
        consumers=(ConsumerConfig(name="Analysts", models=("Paris*",)),),
        scaling=ScalingConfig(
            min_capacity=1,
            max_capacity=2,
            max_requests_per_second=20,
            schedules=(ScheduleConfig(name="Night", cron="0 20 * * ? *", max_capacity=1, time_zone="Europe/Dublin"),),
        ),
        warm_up=True,
    )


def feature_direct() -> Any:
    """A Direct multi-container endpoint ``vision``: TensorFlow and PyTorch containers, a consumer allowed the
    TensorFlow one and denied ``pytorch-*``, scaled on CPU."""
    from constructs_lib.multi_container_endpoint import InferenceMode
    from constructs_lib.production_variant import ProductionVariant
    from stacks.config import ContainerConfig, ContainerConsumerConfig, MultiContainerEndpointConfig, ScalingConfig

    return MultiContainerEndpointConfig(
        name="vision",
        mode=InferenceMode.DIRECT,
        containers=(
            ContainerConfig(
                hostname="tensorflow-vision",
                image=_framework("tensorflow", "2.20.0", "py312"),
                model_data_key="tensorflow-vision/model.tar.gz",
            ),
            ContainerConfig(
                hostname="pytorch-vision",
                image=_framework("pytorch", "2.6.0", "py312"),
                model_data_key="pytorch-vision/model.tar.gz",
                environment={"SAGEMAKER_PROGRAM": "inference.py"},
            ),
        ),
        variants=(ProductionVariant(instance_type="ml.c5.xlarge", initial_instance_count=1),),
        consumers=(ContainerConsumerConfig(name="Client", containers=("tensorflow-vision",), denied=("pytorch-*",)),),
        scaling=ScalingConfig(min_capacity=1, max_capacity=3, cpu_target_percent=60),
    )


def feature_serial() -> Any:
    """A Serial pipeline ``scoring``: scikit-learn preprocessing, then XGBoost; one consumer of the whole pipeline."""
    from constructs_lib.multi_container_endpoint import InferenceMode
    from constructs_lib.production_variant import ProductionVariant
    from stacks.config import ContainerConfig, ContainerConsumerConfig, MultiContainerEndpointConfig

    return MultiContainerEndpointConfig(
        name="scoring",
        mode=InferenceMode.SERIAL,
        containers=(
            ContainerConfig(
                hostname="preprocess", image=_framework("sklearn", "1.2-1"), model_data_key="preprocess/model.tar.gz"
            ),
            ContainerConfig(
                hostname="xgboost", image=_framework("xgboost", "1.7-1"), model_data_key="xgboost/model.tar.gz"
            ),
        ),
        variants=(ProductionVariant(instance_type="ml.m5.large", initial_instance_count=1),),
        consumers=(ContainerConsumerConfig(name="Scorer"),),
    )


def feature_environment(name: str = "dev", **changes: Any) -> Any:
    """An environment of the tests' own (``feature_mme``, ``feature_direct``, ``feature_serial`` in the placeholder
    account and eu-west-1), with ``changes`` applied and validated as ``EnvironmentConfig.replace`` does."""
    from stacks.config import EnvironmentConfig

    config = EnvironmentConfig(
        name=name,
        account="111111111111",
        region="eu-west-1",
        retain_stateful_resources=name == "prod",
        noncurrent_version_expiration_days=14,
        multi_model_endpoints=(feature_mme(),),
        multi_container_endpoints=(feature_direct(), feature_serial()),
    )
    return config.replace(**changes) if changes else config


def feature_components() -> Any:
    """An inference-component endpoint ``tabular``: two XGBoost components on a CPU fleet that scales to zero,
    ``churn`` scaled on invocations per copy with rolling updates, one consumer of ``churn``."""
    from constructs_lib.component_scaling import ComponentScalingPlan
    from constructs_lib.inference_component import ComponentRollingUpdate, ComputeRequirements
    from constructs_lib.inference_component_endpoint import ManagedInstanceScaling
    from stacks.config import ComponentConfig, ComponentConsumerConfig, InferenceComponentEndpointConfig

    xgboost = _framework("xgboost", "1.7-1")
    return InferenceComponentEndpointConfig(
        name="tabular",
        instance_type="ml.m5.large",
        managed_instance_scaling=ManagedInstanceScaling(min_instances=0, max_instances=2),
        components=(
            ComponentConfig(
                name="churn",
                image=xgboost,
                compute=ComputeRequirements(cpu_cores=1, min_memory_mb=1024),
                scaling=ComponentScalingPlan(min_copies=0, max_copies=2, invocations_per_copy=300),
                rolling_update=ComponentRollingUpdate(),
            ),
            ComponentConfig(name="fraud", image=xgboost, compute=ComputeRequirements(min_memory_mb=512)),
        ),
        consumers=(ComponentConsumerConfig(name="Scoring", components=("churn",)),),
    )
