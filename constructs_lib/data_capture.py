"""Data capture (``DataCaptureConfig``) and shadow variants: the endpoint kinds SageMaker supports them on.

Sources: botocore's SageMaker service model (``DataCaptureConfig``, ``CaptureOption``, ``CaptureContentTypeHeader``),
the ``AWS::SageMaker::EndpointConfig`` resource schema (``DataCaptureConfig`` is create-only: our endpoint configs
have generated names, so a change makes a new config and a blue/green update), and the Amazon SageMaker AI
Developer Guide pages each reason below names. Where the guide says a kind does not support a feature, or says
nothing about it, the kind refuses it at synth with that reason rather than leave the answer to a deploy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker

from constructs_lib import sagemaker_limits as limits
from constructs_lib.errors import ValidationError
from constructs_lib.execution_role import ExecutionRole
from hosting_contract.served_prefix import CAPTURE_ROOT, capture_prefix

#: The SageMaker Python SDK's sampling when none is given (Developer Guide, "Capture data from real-time
#: endpoint"); ``DataCaptureConfig`` asks for a lower value on endpoints with high traffic, and captured payloads
#: may hold personal data: capture a sample unless told otherwise.
DEFAULT_SAMPLING_PERCENT = 20
#: ``CsvContentTypes`` and ``JsonContentTypes``: 1-10 entries each (botocore).
MAX_CONTENT_TYPES = 10
#: ``CsvContentType``/``JsonContentType``: 1-256 characters of this pattern (botocore, anchored here).
CONTENT_TYPE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*/[a-zA-Z0-9](-*[a-zA-Z0-9.])*\Z")
MAX_CONTENT_TYPE = 256
#: ``DestinationS3Uri``: at most 512 characters (botocore).
MAX_DESTINATION_URI = 512
#: The longest S3 bucket name, assumed when the bucket's name is only known at deploy time.
_MAX_BUCKET_NAME = 63
# S3 "safe characters" only, segments separated by single slashes, ending with a slash; not '*', which S3 allows
# but IAM reads as a wildcard in the grant's resource ARN (it would let the role write every endpoint's captures).
_PREFIX = re.compile(r"^([A-Za-z0-9!_.'()-]+/)+\Z")

# -- why a kind refuses data capture ---------------------------------------------------------------------------

CAPTURE_UNSUPPORTED_MULTI_MODEL = (
    "SageMaker Model Monitor 'supports only endpoints that host a single model and does not support monitoring "
    "multi-model endpoints' (Developer Guide, 'Data and model quality monitoring with Amazon SageMaker Model "
    "Monitor'), and the guide's 'Supported features' table marks data capture N/A for multi-model endpoints"
)
"""Multi-model endpoints: not supported."""

CAPTURE_UNSUPPORTED_SERVERLESS = (
    "Serverless Inference does not support data capture (Developer Guide, 'Deploy models with Amazon SageMaker "
    "Serverless Inference', Feature exclusions)"
)
"""Serverless endpoints: not supported."""

CAPTURE_UNDOCUMENTED_DIRECT = (
    "the Developer Guide documents data capture for single-model endpoints and inference pipelines (captured for "
    "the whole pipeline) only; its 'Supported features' table marks it N/A for multi-container endpoints, and no "
    "page says how a request to one container of a Direct endpoint is captured"
)
"""Direct multi-container endpoints: the documentation does not say it works."""

CAPTURE_UNDOCUMENTED_INFERENCE_COMPONENTS = (
    "the Developer Guide documents data capture for single-model endpoints and inference pipelines only; no page "
    "says whether or how an endpoint hosting inference components captures its components' requests"
)
"""Endpoints hosting inference components: the documentation does not say it works."""

# -- why a kind refuses shadow variants ------------------------------------------------------------------------

_SHADOW_EXCLUSIONS = "(Developer Guide, 'Shadow tests', Exclusions: requests to set one up fail validation)"

SHADOW_UNSUPPORTED_MULTI_MODEL = f"SageMaker excludes multi-model endpoints from shadow tests {_SHADOW_EXCLUSIONS}"
"""Multi-model endpoints: excluded."""

SHADOW_UNSUPPORTED_MULTI_CONTAINER = (
    f"SageMaker excludes multiple-container endpoints, Direct or Serial, from shadow tests {_SHADOW_EXCLUSIONS}"
)
"""Multi-container endpoints, either mode: excluded."""

SHADOW_UNSUPPORTED_SERVERLESS = f"SageMaker excludes serverless inference from shadow tests {_SHADOW_EXCLUSIONS}"
"""Serverless endpoints: excluded."""

SHADOW_UNDOCUMENTED_INFERENCE_COMPONENTS = (
    "the Developer Guide's shadow tests compare one production variant's model with one shadow variant's model, and "
    "no page says how they apply to an endpoint hosting inference components"
)
"""Endpoints hosting inference components: the documentation does not say it works."""


def refuse_data_capture(owner: str, kind: str, why: str) -> ValidationError:
    """The error for ``data_capture`` given to a ``kind`` endpoint that cannot have it (``why``: a reason above)."""
    return ValidationError(f"{owner}: data_capture is not supported on a {kind} endpoint: {why}")


def refuse_shadow_variants(owner: str, kind: str, why: str) -> ValidationError:
    """The error for ``shadow_variants`` given to a ``kind`` endpoint that cannot have them."""
    return ValidationError(f"{owner}: shadow_variants are not supported on a {kind} endpoint: {why}")


@dataclass(frozen=True, kw_only=True)
class DataCapture:
    """Capture a sample of an endpoint's requests and responses to S3 (the endpoint config's ``DataCaptureConfig``).

    SageMaker adds ``<endpoint>/<variant>/yyyy/mm/dd/hh/`` below the destination (Developer Guide, "Capture data
    from real-time endpoint"). The guide names no principal for the writes; as for every other S3 access of the
    endpoint, the model's execution role is granted them: ``s3:PutObject`` on the destination prefix only, and
    the encryption key through S3.
    """

    bucket: s3.IBucket
    """Where captures go: the stage's model-artifact bucket, whose ``capture/`` prefix expires."""

    prefix: str | None = None
    """The destination prefix, under ``capture/`` and ending with ``/``. Default: ``capture/<endpoint name>/``."""

    sampling_percent: int = DEFAULT_SAMPLING_PERCENT
    """Share of requests captured, 0-100 (whole percent: the API takes an integer). Default: 20."""

    capture_requests: bool = True
    """Capture request payloads (``CaptureMode`` ``Input``)."""

    capture_responses: bool = True
    """Capture response payloads (``CaptureMode`` ``Output``)."""

    json_content_types: tuple[str, ...] = ()
    """Content types recorded as JSON text (at most 10), e.g. ``("application/json",)``. Others are base64."""

    csv_content_types: tuple[str, ...] = ()
    """Content types recorded as CSV text (at most 10), e.g. ``("text/csv",)``. Others are base64."""

    encryption_key: kms.IKey | None = None
    """The KMS key SageMaker encrypts captures with (S3 server-side). Default: the bucket's own key; an imported
    bucket has none, so pass the key its default encryption uses (the role needs it to write)."""

    def destination_prefix(self, endpoint_name: str) -> str:
        """The prefix captures are written under: ``prefix``, or ``capture/<endpoint_name>/``."""
        return self.prefix if self.prefix is not None else capture_prefix(endpoint_name)

    def validate(self, owner: str, *, endpoint_name: str) -> None:
        """Raise ``ValidationError`` naming ``owner``, the field and the value for anything SageMaker would refuse."""
        limits.check_count(owner, "data_capture.sampling_percent", self.sampling_percent, 0)
        limits.check_range(owner, "data_capture.sampling_percent", self.sampling_percent, 0, 100)
        if not (self.capture_requests or self.capture_responses):
            raise limits.fail(
                owner,
                "data_capture.capture_requests/capture_responses",
                (self.capture_requests, self.capture_responses),
                "capture nothing: SageMaker needs at least one CaptureMode (Input, Output)",
            )
        json_types = self._content_types(owner, "json_content_types", self.json_content_types)
        csv_types = self._content_types(owner, "csv_content_types", self.csv_content_types)
        both = sorted(set(json_types) & set(csv_types))
        if both:
            raise limits.fail(owner, "data_capture.content types", both, "cannot be recorded both as JSON and as CSV")
        self._check_prefix(owner, self.destination_prefix(endpoint_name))

    def render(
        self, owner: str, *, endpoint_name: str, role: ExecutionRole
    ) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty:
        """Validate, let ``role`` write under the destination prefix (and encrypt through S3), and render the config."""
        self.validate(owner, endpoint_name=endpoint_name)
        prefix = self.destination_prefix(endpoint_name)
        objects = self.bucket.arn_for_objects(f"{prefix}*")
        role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[objects]))
        role.acknowledge_wildcard(
            objects, "SageMaker names capture files at run time, by endpoint, variant and hour, under this prefix."
        )
        key = self.encryption_key or self.bucket.encryption_key
        if key is not None:
            # The captures are encrypted "using Amazon S3 server-side encryption" (DataCaptureConfig.KmsKeyId): S3
            # generates the data key with the uploader's rights, and decrypts it to complete a multipart upload
            # (Amazon S3 User Guide, "Using server-side encryption with AWS KMS keys"), so the role may use the
            # key through S3 only. It reads nothing under the prefix.
            iam.Grant.add_to_principal(
                grantee=role.role,
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resource_arns=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{cdk.Stack.of(self.bucket).region}.amazonaws.com"}},
            )
        modes = [("Input", self.capture_requests), ("Output", self.capture_responses)]
        header = None
        if self.json_content_types or self.csv_content_types:
            header = sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                json_content_types=list(self.json_content_types) or None,
                csv_content_types=list(self.csv_content_types) or None,
            )
        return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
            enable_capture=True,
            initial_sampling_percentage=self.sampling_percent,
            # No trailing slash: SageMaker appends '/<endpoint>/<variant>/...' itself.
            destination_s3_uri=f"s3://{self.bucket.bucket_name}/{prefix.rstrip('/')}",
            capture_options=[
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode=mode) for mode, on in modes if on
            ],
            capture_content_type_header=header,
            kms_key_id=key.key_arn if key is not None else None,
        )

    @staticmethod
    def _content_types(owner: str, field: str, types: tuple[str, ...]) -> tuple[str, ...]:
        if isinstance(types, str):
            raise limits.fail(owner, f"data_capture.{field}", types, "must be a tuple of content types, not a string")
        if len(types) > MAX_CONTENT_TYPES:
            raise limits.fail(owner, f"data_capture.{field}", f"{len(types)} types", "exceeds 10")
        for content_type in types:
            if limits.is_token(content_type):
                continue
            if not CONTENT_TYPE.match(content_type) or len(content_type) > MAX_CONTENT_TYPE:
                raise limits.fail(
                    owner, f"data_capture.{field}", content_type, "must be a MIME type/subtype, e.g. application/json"
                )
        return types

    def _check_prefix(self, owner: str, prefix: str) -> None:
        if limits.is_token(prefix):
            return
        if not _PREFIX.match(prefix) or any(part in (".", "..") for part in prefix.split("/")):
            raise limits.fail(
                owner, "data_capture.prefix", prefix, "must be S3-safe segments each ending with '/', e.g. 'capture/x/'"
            )
        if not prefix.startswith(CAPTURE_ROOT):
            # The bucket expires captures under capture/ only, and the artifact guard judges everything under
            # models/ as an archive.
            raise limits.fail(owner, "data_capture.prefix", prefix, f"must be under {CAPTURE_ROOT!r}")
        name = self.bucket.bucket_name
        bucket_length = _MAX_BUCKET_NAME if limits.is_token(name) else len(name)
        uri_length = len("s3://") + bucket_length + 1 + len(prefix.rstrip("/"))
        if uri_length > MAX_DESTINATION_URI:
            raise limits.fail(
                owner, "data_capture.prefix", prefix, f"makes a DestinationS3Uri of {uri_length} characters (max 512)"
            )


__all__ = [
    "CAPTURE_UNDOCUMENTED_DIRECT",
    "CAPTURE_UNDOCUMENTED_INFERENCE_COMPONENTS",
    "CAPTURE_UNSUPPORTED_MULTI_MODEL",
    "CAPTURE_UNSUPPORTED_SERVERLESS",
    "DEFAULT_SAMPLING_PERCENT",
    "SHADOW_UNDOCUMENTED_INFERENCE_COMPONENTS",
    "SHADOW_UNSUPPORTED_MULTI_CONTAINER",
    "SHADOW_UNSUPPORTED_MULTI_MODEL",
    "SHADOW_UNSUPPORTED_SERVERLESS",
    "DataCapture",
    "refuse_data_capture",
    "refuse_shadow_variants",
]
