"""hosting_contract: what the CLI, the Lambda functions and the constructs share, and who may import what."""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hosting_contract import naming, served_prefix, ssm_paths
from hosting_contract.archive_rules import Layout, Limits
from hosting_contract.guard_limits import RANGES, GuardLimits
from hosting_contract.served_prefix import ServedPrefix
from tests.support import Synthesis

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "hosting_contract"


def _imports(path: Path) -> Iterator[tuple[int, str, int]]:
    """(line, imported module, relative level) of every import in ``path``, wherever it stands."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.module or "", node.level


def test_constructs_and_stacks_never_import_the_cli() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for folder in ("constructs_lib", "stacks")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, module, _ in _imports(path)
        if module == "modelctl" or module.startswith("modelctl.")
    ]
    assert found == [], "constructs_lib and stacks import hosting_contract, never modelctl"


def test_the_contract_imports_only_the_standard_library_and_itself() -> None:
    modules = sorted(CONTRACT.rglob("*.py"))
    assert {p.name for p in modules} >= {"__init__.py", "archive_rules.py", "ssm_paths.py", "naming.py"}
    assert (CONTRACT / "py.typed").is_file()
    found = [
        f"{path.relative_to(ROOT)}:{line}: {'.' * level}{module}"
        for path in modules
        for line, module, level in _imports(path)
        if level == 0
        and module.split(".")[0] not in sys.stdlib_module_names
        and module.split(".")[0] != "hosting_contract"
    ]
    assert found == []
    # Absolute imports only: the Lambda assets carry the package as a folder and import it by its name.
    assert [m for p in modules for _, m, level in _imports(p) if level] == []


def test_ssm_names_are_those_deployed_environments_have() -> None:
    # Renaming any of these strands every deployed environment's tools: change them with a migration only.
    assert ssm_paths.environment_path("dev") == "/sagemaker-hosting/dev"
    assert [ssm_paths.model_store_parameter("dev", name) for name in ssm_paths.MODEL_STORE_PARAMETERS] == [
        "/sagemaker-hosting/dev/model-store/bucket-name",
        "/sagemaker-hosting/dev/model-store/kms-key-arn",
        "/sagemaker-hosting/dev/model-store/repository-uri",
        "/sagemaker-hosting/dev/model-store/artifact-guard-function",
        "/sagemaker-hosting/dev/model-store/alarm-topic-arn",
    ]
    assert ssm_paths.artifacts_parameter("dev", "dev-mnist") == "/sagemaker-hosting/dev/artifacts/dev-mnist"
    assert ssm_paths.endpoint_path("dev", "dev-mnist") == "/sagemaker-hosting/dev/endpoints/dev-mnist"
    assert (
        ssm_paths.snapshot_parameter("/sagemaker-hosting/prod", "prod-mnist", "AllTraffic")
        == "/sagemaker-hosting/prod/scaling-guard/prod-mnist/AllTraffic"
    )
    assert ssm_paths.snapshot_root("Hosting") == "/sagemaker-hosting/Hosting"
    with pytest.raises(ValueError, match="no model-store parameter"):
        ssm_paths.model_store_parameter("dev", "bucket")
    assert ssm_paths.is_path("/sagemaker-hosting/prod")
    assert not any(ssm_paths.is_path(p) for p in ("", "a/b", "/a/", "/a b", "/a//b"))


def test_endpoint_names() -> None:
    assert naming.endpoint_name("dev", "home-values") == "dev-home-values"
    assert naming.deployed_endpoint_name("dev", "home-values") == "dev-home-values"
    assert naming.deployed_endpoint_name("dev", "dev-home-values") == "dev-home-values"
    assert served_prefix.endpoint_prefix("dev-home-values") == "models/dev-home-values/"


@pytest.mark.parametrize(
    "limits", [GuardLimits(), GuardLimits(max_uncompressed_gib=1, max_entries=7, max_compression_ratio=2.5)]
)
def test_guard_limits_travel_through_the_environment_unchanged(limits: GuardLimits) -> None:
    environment = limits.to_environment()
    assert all(isinstance(value, str) for value in environment.values())
    assert GuardLimits.from_environment(environment) == limits
    assert limits.archive_limits() == Limits(
        max_uncompressed_bytes=limits.max_uncompressed_gib * 1024**3,
        max_entries=limits.max_entries,
        max_compression_ratio=limits.max_compression_ratio,
    )


def test_guard_limits_defaults_are_in_range_and_the_checker_s() -> None:
    defaults = GuardLimits()
    assert defaults.to_environment() == {
        "MAX_UNCOMPRESSED_BYTES": str(50 * 1024**3),
        "MAX_ENTRIES": "100000",
        "MAX_COMPRESSION_RATIO": "200.0",
    }
    assert defaults.archive_limits() == Limits()
    for name, (low, high) in RANGES.items():
        value = getattr(defaults, name)
        assert low <= value, name
        assert high is None or value <= high, name


def test_a_malformed_limit_fails_the_function_s_start() -> None:
    environment = {**GuardLimits().to_environment(), "MAX_UNCOMPRESSED_BYTES": "1000"}
    with pytest.raises(ValueError, match="whole number of GiB"):
        GuardLimits.from_environment(environment)


def test_served_prefixes_travel_through_the_environment_unchanged() -> None:
    prefixes = [
        ServedPrefix(prefix="models/prod-a/", endpoint_name="prod-a", warm_up=True),
        ServedPrefix(prefix="models/prod-b/tf/", endpoint_name="prod-b", layout=Layout.TENSORFLOW.value),
    ]
    text = served_prefix.encode(prefixes)
    assert json.loads(text)[0] == {"endpoint": "prod-a", "layout": "flat", "prefix": "models/prod-a/", "warmUp": True}
    assert served_prefix.decode(text) == prefixes
    assert [p.archive_layout for p in served_prefix.decode(text)] == [Layout.FLAT, Layout.TENSORFLOW]
    with pytest.raises(ValueError, match="zip"):
        served_prefix.decode(json.dumps([{"prefix": "models/x/", "endpoint": "x", "layout": "zip"}]))


def _parameters(resources: dict[str, Any]) -> set[str]:
    return {r["Properties"]["Name"] for r in resources.values() if r["Type"] == "AWS::SSM::Parameter"}


def _variables(resources: dict[str, Any], logical_prefix: str) -> dict[str, Any]:
    (function,) = [
        r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function" and k.startswith(logical_prefix)
    ]
    variables: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
    return variables


def test_every_stage_publishes_and_configures_what_the_contract_names(synthesis: Synthesis) -> None:
    for stage in synthesis.stages:
        config = stage.config
        store = synthesis.resources(stage.model_store)
        names = _parameters(store)
        assert {n for n in names if n.startswith(ssm_paths.model_store_path(config.name) + "/")} == {
            ssm_paths.model_store_parameter(config.name, name) for name in ssm_paths.MODEL_STORE_PARAMETERS
        }
        assert {n for n in names if n.startswith(ssm_paths.artifacts_path(config.name) + "/")} == {
            ssm_paths.artifacts_parameter(config.name, name) for name in config.endpoint_names()
        }
        # The guard's function reads back exactly what the configuration says, through the contract's codecs.
        guard = _variables(store, "ArtifactGuardHandler")
        assert GuardLimits.from_environment(guard) == config.guard_limits
        assert served_prefix.decode(guard[served_prefix.ENVIRONMENT_VARIABLE]) == (
            stage.model_store.catalog.guarded_prefixes()
        )
        endpoints = {ssm_paths.endpoint_path(config.name, name) for name in config.endpoint_names()}
        for hosting in stage.hosting_stacks:
            template = synthesis.resources(hosting)
            for name in _parameters(template):
                assert name.rsplit("/", 1)[0] in endpoints, name
            snapshots = _variables(template, "ScalingGuardProvider")[ssm_paths.SNAPSHOT_PATH_VARIABLE]
            assert snapshots == config.ssm_path == ssm_paths.environment_path(config.name)


def test_is_token_decides_plain_values_alone_and_still_sees_every_token() -> None:
    """The fast path of ``is_token`` agrees with the CDK on plain values and on each kind of token."""
    import aws_cdk as cdk

    from constructs_lib.sagemaker_limits import is_token

    stack = cdk.Stack()
    tokens = [
        stack.account,
        cdk.Token.as_number(stack.account),
        cdk.Token.as_list(stack.account),
        f"arn:{stack.partition}:s3:::b",
    ]
    # A list holding a token string is no list token, for the CDK as for is_token.
    plain = [None, True, 3, 2.5, "ml.m5.large", ["a", "b"], (1, 2), [], "${notatoken}", [stack.account, "x"]]
    assert [is_token(v) for v in tokens] == [True] * len(tokens)
    assert [is_token(v) for v in plain] == [False] * len(plain)
    lists = [v for v in tokens + plain if not isinstance(v, tuple)]  # jsii takes no tuples
    assert [cdk.Token.is_unresolved(v) for v in lists] == [is_token(v) for v in lists]
