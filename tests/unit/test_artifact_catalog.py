"""The artifact catalog's entries: the three kinds, what each publishes for modelctl and the guard, and every rule
that refuses an entry."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from constructs_lib import ValidationError
from constructs_lib.artifact_catalog import ArtifactCatalog, ContainerArchive, EndpointArtifacts
from hosting_contract.catalog_kinds import INFERENCE_COMPONENTS, KINDS, MULTI_CONTAINER, MULTI_MODEL
from hosting_contract.served_prefix import ServedPrefix
from tests.support import make_app

PREFIX = "models/prod-tabular/"


def _components(**overrides: Any) -> EndpointArtifacts:
    """An endpoint of two inference components, ``churn`` (flat) and ``fraud`` (tensorflow)."""
    props: dict[str, Any] = {
        "endpoint_name": "prod-tabular",
        "prefix": PREFIX,
        "kind": INFERENCE_COMPONENTS,
        "containers": (
            ContainerArchive(hostname="churn", key=f"{PREFIX}churn/model.tar.gz"),
            ContainerArchive(hostname="fraud", key=f"{PREFIX}fraud/model.tar.gz", layout="tensorflow"),
        ),
    }
    props.update(overrides)
    return EndpointArtifacts(**props)


def test_the_kinds_are_the_names_modelctl_reads() -> None:
    # Published in every environment's SSM parameters: renaming one strands modelctl.
    assert KINDS == (MULTI_MODEL, MULTI_CONTAINER, INFERENCE_COMPONENTS)
    assert INFERENCE_COMPONENTS == "inference-components"


def test_components_publish_their_archives_as_containers() -> None:
    assert json.loads(_components().to_json()) == {
        "endpoint": "prod-tabular",
        "kind": "inference-components",
        "prefix": PREFIX,
        "containers": {
            "churn": {"key": f"{PREFIX}churn/model.tar.gz", "layout": "flat"},
            "fraud": {"key": f"{PREFIX}fraud/model.tar.gz", "layout": "tensorflow"},
        },
    }


def test_the_guard_watches_each_component_s_folder_without_warm_up() -> None:
    assert _components().guarded_prefixes() == [
        ServedPrefix(prefix=f"{PREFIX}churn/", endpoint_name="prod-tabular", layout="flat"),
        ServedPrefix(prefix=f"{PREFIX}fraud/", endpoint_name="prod-tabular", layout="tensorflow"),
    ]


def test_the_catalog_publishes_a_component_endpoint() -> None:
    stack = cdk.Stack(make_app(), "Store")
    ArtifactCatalog(stack, "Catalog", parameter_path="/sagemaker-hosting/prod/artifacts", endpoints=[_components()])
    (parameter,) = Template.from_stack(stack).find_resources("AWS::SSM::Parameter").values()
    assert parameter["Properties"]["Name"] == "/sagemaker-hosting/prod/artifacts/prod-tabular"
    assert json.loads(parameter["Properties"]["Value"])["kind"] == "inference-components"


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"kind": "inference-component"}, r"kind 'inference-component' must be one of multi-model, multi-container, "),
        (
            {"containers": (ContainerArchive(hostname="churn", key=f"{PREFIX}model.tar.gz"),)},
            r"archive of component 'churn' 'model.tar.gz' must sit in a folder of its own, e.g. "
            r"'<component>/model.tar.gz'",
        ),
        (
            {
                "containers": (
                    ContainerArchive(hostname="churn", key=f"{PREFIX}shared/a.tar.gz"),
                    ContainerArchive(hostname="fraud", key=f"{PREFIX}shared/b.tar.gz"),
                )
            },
            r"archive of component 'fraud' 'shared/b.tar.gz' shares its folder with component 'churn'; give each "
            r"component a folder of its own",
        ),
        (
            {"containers": (ContainerArchive(hostname="churn", key="models/prod-other/churn/model.tar.gz"),)},
            r"archive of component 'churn' 'models/prod-other/churn/model.tar.gz' must be a .tar.gz under",
        ),
        (
            {
                "containers": (
                    ContainerArchive(hostname="churn", key=f"{PREFIX}churn/model.tar.gz"),
                    ContainerArchive(hostname="churn", key=f"{PREFIX}churn-v2/model.tar.gz"),
                )
            },
            r"component 'churn' is listed twice",
        ),
        (
            # The deployed name, '<endpoint>-<component>', is an InferenceComponentName: 63 characters at most.
            {"containers": (ContainerArchive(hostname="c" * 51, key=f"{PREFIX}{'c' * 51}/model.tar.gz"),)},
            r"component 'prod-tabular-c{51}' must be 1-63 letters, digits and inner hyphens \(64 given\)",
        ),
        (
            {"containers": (ContainerArchive(hostname="churn_v2", key=f"{PREFIX}churn/model.tar.gz"),)},
            r"component 'prod-tabular-churn_v2' must be 1-63 letters, digits and inner hyphens",
        ),
        ({"warm_up": True}, r"warm_up True applies to a multi-model endpoint only"),
        ({"kind": MULTI_CONTAINER, "warm_up": True}, r"warm_up True applies to a multi-model endpoint only"),
        ({"kind": MULTI_MODEL}, r"containers \['churn', 'fraud'\] do not apply to a multi-model endpoint"),
        (
            {
                "kind": MULTI_CONTAINER,
                "containers": (
                    ContainerArchive(hostname="tf", key=f"{PREFIX}tf/model.tar.gz"),
                    ContainerArchive(hostname="tf", key=f"{PREFIX}tf2/model.tar.gz"),
                ),
            },
            r"container 'tf' is listed twice",
        ),
    ],
)
def test_a_malformed_entry_is_refused(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=r"^EndpointArtifacts prod-tabular: " + match):
        _components(**overrides)


def test_a_component_name_at_the_limit_is_accepted() -> None:
    name = "c" * (63 - len("prod-tabular-"))
    entry = _components(containers=(ContainerArchive(hostname=name, key=f"{PREFIX}{name}/model.tar.gz"),))
    assert [c.hostname for c in entry.containers] == [name]
