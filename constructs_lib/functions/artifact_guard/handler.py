"""Lambda entry point of the artifact guard (thin: the logic is in artifact_guard.py)."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from artifact_guard import Guard

from hosting_contract import served_prefix
from hosting_contract.guard_limits import GuardLimits

_guard: Guard | None = None
#: Stop reading an archive this long before Lambda's timeout, to tag, quarantine (a multipart copy of tens of
#: GB runs server-side, in parallel parts) and notify in time. A retry resumes a quarantine cut short.
_MARGIN_MS = 300_000
_context: Any = None


def _build() -> Guard:
    sns = boto3.client("sns")
    topic = os.environ["TOPIC_ARN"]
    return Guard(
        s3=boto3.client("s3"),
        runtime=boto3.client("sagemaker-runtime"),
        prefixes=served_prefix.decode(os.environ[served_prefix.ENVIRONMENT_VARIABLE]),
        limits=GuardLimits.from_environment(os.environ).archive_limits(),
        notify=lambda subject, message: sns.publish(TopicArn=topic, Subject=subject, Message=message),
        emit=lambda record: print(json.dumps(record)),
        bucket=os.environ["BUCKET_NAME"],
        should_stop=lambda: _context is not None and _context.get_remaining_time_in_millis() < _MARGIN_MS,
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    global _guard, _context
    _context = context
    _guard = _guard or _build()
    outcome = _guard.handle(event)
    print(json.dumps({"action": outcome.action, "key": outcome.key, "reason": outcome.reason}))
    return {"action": outcome.action, "key": outcome.key}
