"""Test set-up: jsii must run on the virtualenv's Node (24), not an end-of-life system Node."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_VENV_BIN = str(Path(sys.executable).parent)
if not os.environ.get("PATH", "").startswith(_VENV_BIN):
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")
# No test may reach AWS: fake credentials and no metadata probing, whatever the machine has configured.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)


import pytest  # noqa: E402  (the environment above must be set before aws_cdk loads)

import app as app_module  # noqa: E402
from stacks.stage import ModelHostingStage  # noqa: E402
from tests.support import make_app  # noqa: E402


@pytest.fixture(scope="session")
def stages() -> list[ModelHostingStage]:
    """Every environment's stage, built once as app.py builds them, compliance packs attached.

    Findings are reported instead of raised (``failSynthOnValidationErrors`` false), so that the compliance test
    can list them; the stages are synthesized on first use.
    """
    return app_module.build(make_app(**{"@aws-cdk/core:failSynthOnValidationErrors": False}))
