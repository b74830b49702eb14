"""The installable wheel: built offline from the working tree, installed on its own, used outside the repository.

One build per session (``pip wheel --no-build-isolation``: the virtualenv's setuptools, no network), with
setuptools' build and egg-info folders redirected to the test's temporary folder (``DIST_EXTRA_CONFIG``), so the
working tree gets no ``build/`` nor ``*.egg-info``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

#: One worker runs them all: the wheel is built and installed once (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("the wheel")

ROOT = Path(__file__).resolve().parents[2]
#: What the build backend needs in the virtualenv (pyproject.toml's [build-system]).
MIN_SETUPTOOLS = 69


@dataclass(frozen=True)
class Built:
    """The wheel, its file list, and the folder it is installed in (``pip install --target``)."""

    wheel: Path
    names: frozenset[str]
    site: Path


def _pip(*arguments: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    command = [sys.executable, "-m", "pip", *arguments, "--no-index", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    version = metadata.version("setuptools")
    if int(version.split(".")[0]) < MIN_SETUPTOOLS:
        pytest.fail(f"setuptools {version} in the virtualenv: the build needs setuptools>={MIN_SETUPTOOLS}")
    tmp = tmp_path_factory.mktemp("wheel")
    (tmp / "egg").mkdir()
    config = tmp / "setuptools.cfg"
    config.write_text(f"[build]\nbuild_base = {tmp / 'build'}\n[egg_info]\negg_base = {tmp / 'egg'}\n")
    env = {**os.environ, "DIST_EXTRA_CONFIG": str(config)}
    _pip("wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), cwd=tmp, env=env)
    (wheel,) = (tmp / "dist").glob("sagemaker_multi_hosting-*.whl")
    site = tmp / "site"
    _pip("install", "--no-deps", "--target", str(site), str(wheel), cwd=tmp)
    with zipfile.ZipFile(wheel) as archive:
        names = frozenset(archive.namelist())
    return Built(wheel=wheel, names=names, site=site)


def test_the_wheel_holds_the_library_its_functions_and_the_contract_only(built: Built) -> None:
    expected = {
        path.relative_to(ROOT).as_posix()
        for folder in ("constructs_lib", "hosting_contract")
        for path in (ROOT / folder).rglob("*")
        if path.suffix == ".py" and "__pycache__" not in path.parts
    }
    assert "constructs_lib/functions/artifact_guard/handler.py" in expected
    assert expected <= built.names, sorted(expected - built.names)
    assert {
        "constructs_lib/py.typed",
        "hosting_contract/py.typed",
        "constructs_lib/functions/README.md",
        "constructs_lib/functions/shared/cfn_response.py",
    } <= built.names
    # Synth reads these extracts of AWS data (constructs_lib.region_support) from the installed package.
    data = {path.relative_to(ROOT).as_posix() for path in (ROOT / "constructs_lib" / "data").glob("*.json")}
    assert "constructs_lib/data/cloudformation_regions.json" in data
    assert data <= built.names, sorted(data - built.names)
    tops = {name.split("/", 1)[0] for name in built.names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"constructs_lib", "hosting_contract"}


def test_the_wheel_requires_what_requirements_txt_pins_as_lower_bounds(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as archive:
        (name,) = [n for n in built.names if n.endswith(".dist-info/METADATA")]
        requires = re.findall(r"^Requires-Dist: (.+)$", archive.read(name).decode(), flags=re.MULTILINE)
    pins = dict(re.findall(r"^([\w-]+)==(\S+)", (ROOT / "requirements.txt").read_text(), flags=re.MULTILINE))
    assert {r for r in requires if not r.startswith("botocore")} == {
        f"{package}>={pins[package]}" for package in ("aws-cdk-lib", "constructs", "cdk-nag")
    }
    # constructs_lib reads SageMaker's API model from botocore at synth (constructs_lib.service_model).
    assert [r for r in requires if r.startswith("botocore")] == [f"botocore>={pins['boto3']}"]


APP = """
    import json
    import sys

    import aws_cdk as cdk
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_sns as sns

    import constructs_lib
    import hosting_contract
    from constructs_lib import ArtifactGuard, ModelPrefix, MultiModelEndpoint, ProductionVariant, ServingImage
    from constructs_lib.hardened_function import FUNCTIONS_DIR
    from hosting_contract.served_prefix import ServedPrefix, endpoint_prefix

    app = cdk.App(outdir=sys.argv[1])
    stack = cdk.Stack(app, "Wheel", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    bucket = s3.Bucket(stack, "Models", encryption_key=key, versioned=True, event_bridge_enabled=True)
    MultiModelEndpoint(
        stack,
        "Mme",
        endpoint_name="wheel-mme",
        image=ServingImage.from_registry("141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"),
        model_prefix=ModelPrefix.for_endpoint(bucket=bucket, endpoint_name="wheel-mme", encryption_key=key),
        variants=[ProductionVariant(instance_type="ml.m5.xlarge", initial_instance_count=1)],
    )
    ArtifactGuard(
        stack,
        "Guard",
        bucket=bucket,
        encryption_key=key,
        prefixes=[ServedPrefix(prefix=endpoint_prefix("wheel-mme"), endpoint_name="wheel-mme")],
        topic=sns.Topic(stack, "Topic"),
        queue_key=key,
    )
    app.synth()
    print(json.dumps({
        "constructs_lib": constructs_lib.__file__,
        "hosting_contract": hosting_contract.__file__,
        "functions": str(FUNCTIONS_DIR),
    }))
"""


def test_a_cdk_app_synthesizes_from_the_installed_wheel_alone(built: Built) -> None:
    tmp = built.site.parent
    (tmp / "app.py").write_text(textwrap.dedent(APP))
    out = tmp / "out"
    # Only the installed wheel and the virtualenv's packages: the repository's folders are not importable.
    env = {**os.environ, "PYTHONPATH": str(built.site)}
    done = subprocess.run(
        [sys.executable, "-s", "app.py", str(out)], cwd=tmp, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    where: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    for module in ("constructs_lib", "hosting_contract", "functions"):
        assert Path(where[module]).resolve().is_relative_to(built.site.resolve()), (module, where[module])

    template = json.loads((out / "Wheel.template.json").read_text())
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert {"AWS::SageMaker::Endpoint", "AWS::SageMaker::Model", "AWS::Lambda::Function"} <= types
    (asset,) = [p.parent for p in out.glob("asset.*/handler.py") if (p.parent / "artifact_guard.py").is_file()]
    # The guard's asset: its own modules, and the contract as a package folder, imported as the CLI imports it.
    contract = asset / "hosting_contract"
    assert (contract / "__init__.py").is_file()
    assert (contract / "archive_rules.py").read_text() == (ROOT / "hosting_contract" / "archive_rules.py").read_text()
    assert not [p for p in asset.rglob("*") if p.is_symlink() or p.name == "__pycache__"]
