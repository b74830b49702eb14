"""The one error type our constructs raise for bad input."""

from __future__ import annotations


class ValidationError(ValueError):
    """A construct was given a value SageMaker, IAM or CloudFormation would refuse.

    The message names the construct, the field and the bad value, so that a platform engineer can fix the
    configuration without reading a stack trace.
    """
