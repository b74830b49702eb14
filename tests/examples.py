"""Every expectation about the shipped example environments (``stacks/environments.py``), in one place.

Tests of a feature build a configuration of their own (``tests.support.feature_environment``) and never name
an example. Tests *about* the examples (``tests/stages``, the review of the synthesized examples) read them
through this module, which derives what it can from ``ENVIRONMENTS``: adding an endpoint or an environment then
changes the expectations with it. What is literal here is pinned on purpose, with the reason beside it: change
it only together with the example it describes (and the README, which describes them too).
"""

from __future__ import annotations

from typing import Any

from stacks.config import (
    EnvironmentConfig,
    InferenceComponentEndpointConfig,
    MultiContainerEndpointConfig,
    MultiModelEndpointConfig,
)
from stacks.environments import ENVIRONMENTS

Endpoint = MultiModelEndpointConfig | MultiContainerEndpointConfig | InferenceComponentEndpointConfig

# -- pinned on purpose ---------------------------------------------------------------------------------------------

#: The shipped environments, in deployment order (README "Environments"; deploy.yml deploys them in this order).
ENVIRONMENT_NAMES = ("dev", "staging", "prod")

#: The README's example endpoints, by configured name.
HOME_VALUES = "home-values"
"""The seeds' XGBoost home-value multi-model endpoint (one model per city)."""
MNIST = "mnist"
"""The seeds' TensorFlow + PyTorch MNIST models side by side (Direct)."""
CHURN_PIPELINE = "churn-pipeline"
"""scikit-learn preprocessing, then XGBoost (Serial)."""
TABULAR = "tabular"
"""Two XGBoost models as inference components (scale to zero in dev)."""

#: The home-values endpoint's logical id: the endpoint keeps its name across updates, and a new logical id would
#: replace it (downtime for every client).
PINNED_ENDPOINT_IDS = {HOME_VALUES: "HomeValuesEndpoint749CD10F"}

#: The archive layout each example container's image loads (TensorFlow Serving's versioned folders for the
#: TensorFlow container); every other example archive is flat.
PINNED_LAYOUTS = {
    (HOME_VALUES, None): "flat",
    (MNIST, "tensorflow-mnist"): "tensorflow",
    (MNIST, "pytorch-mnist"): "flat",
    (CHURN_PIPELINE, "preprocess"): "flat",
    (CHURN_PIPELINE, "xgboost"): "flat",
}

#: Which example models run without network: the first-party scikit-learn -> XGBoost pipeline serves from its
#: archives alone; the framework containers may install code/requirements.txt, and AWS documents no network
#: isolation for multi-model endpoints.
PINNED_NETWORK_ISOLATION = {HOME_VALUES: False, MNIST: False, CHURN_PIPELINE: True, TABULAR: True}

#: The request each example model expects, as the AWS samples send it: TensorFlow Serving
#: ``{"instances": np.expand_dims(x, 3)}`` (N x 28 x 28 x 1), PyTorch ``{"inputs": np.expand_dims(x, axis=1)}``
#: (N x 1 x 28 x 28), and CSV rows of the home-value sample's six features (YEAR_BUILT, SQUARE_FEET,
#: NUM_BEDROOMS, NUM_BATHROOMS, LOT_ACRES, GARAGE_SPACES).
CANARY_SHAPES = {
    (MNIST, "tensorflow-mnist"): ("instances", (1, 28, 28, 1)),
    (MNIST, "pytorch-mnist"): ("inputs", (1, 1, 28, 28)),
}
HOME_VALUE_FEATURES = 6

#: What the README says of each environment's examples: whether stateful resources are retained, home-values'
#: instances and scaling range (initial, min, max), mnist's blue/green traffic shift, the p99 latency alarm (ms).
PINNED_RETAIN = {"dev": False, "staging": True, "prod": True}
PINNED_HOME_VALUES_CAPACITY = {"dev": (1, 1, 2), "staging": (1, 1, 3), "prod": (2, 2, 8)}
PINNED_MNIST_TRAFFIC = {"dev": None, "staging": "LINEAR", "prod": "CANARY"}
PINNED_LATENCY_P99_MS = {"dev": 1000, "staging": 1000, "prod": 500}
#: Only dev scales down at night (at most one instance from 20:00, Europe/Dublin).
PINNED_HOME_VALUES_SCHEDULES = {"dev": ("Night", "Morning"), "staging": (), "prod": ()}

#: The image the home-value models run on: SageMaker's first-party XGBoost 1.7-1 in eu-west-1 (AWS's ECR account
#: for the region's built-in algorithms), as the README shows it.
XGBOOST_IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"


#: The serving images the examples resolve to in eu-west-1 (from the SageMaker SDK's image tables), as the review
#: lists them: by endpoint, and by container hostname for multi-container endpoints.
PINNED_IMAGES = {
    (HOME_VALUES, None): XGBOOST_IMAGE,
    (MNIST, "tensorflow-mnist"): "763104351884.dkr.ecr.eu-west-1.amazonaws.com/tensorflow-inference:2.20.0-cpu-py312",
}


# -- derived from ENVIRONMENTS -------------------------------------------------------------------------------------

NAMES = tuple(e.name for e in ENVIRONMENTS)
"""The configured environments' names, in order."""
PLACEMENTS = tuple(p for e in ENVIRONMENTS for p in e.placements())
"""Every stage's configuration: each environment once per region, its home region first."""
STAGE_IDS = tuple(p.stage_id for p in PLACEMENTS)
"""Their stages' construct ids (``Dev``, ..., ``Prod``, ``Prod-eu-central-1``)."""
#: The example prod runs in two regions (README "Environments"): its home region and a second one.
PINNED_REGIONS = {"dev": ("eu-west-1",), "staging": ("eu-west-1",), "prod": ("eu-west-1", "eu-central-1")}


def environment(name: str) -> EnvironmentConfig:
    """The configured environment named ``name``."""
    return next(e for e in ENVIRONMENTS if e.name == name)


def endpoints(config: EnvironmentConfig) -> list[Endpoint]:
    """Every endpoint of ``config``: multi-model first, then multi-container, then inference components."""
    return [*config.multi_model_endpoints, *config.multi_container_endpoints, *config.inference_component_endpoints]


def endpoint(config: EnvironmentConfig, name: str) -> Endpoint:
    """The endpoint of ``config`` configured as ``name``."""
    return next(e for e in endpoints(config) if e.name == name)


def having(name: str) -> list[str]:
    """The environments that configure an endpoint named ``name``."""
    return [e.name for e in ENVIRONMENTS if any(x.name == name for x in endpoints(e))]


def smoke_tested() -> list[str]:
    """The environments where at least one endpoint has canaries."""
    return [e.name for e in ENVIRONMENTS if any(x.smoke_tests for x in endpoints(e))]


def construct_id(name: str) -> str:
    """The construct id the Hosting stack gives the endpoint configured as ``name`` (``home-values``: ``HomeValues``)."""
    return "".join(part.capitalize() for part in name.split("-"))


def kind(endpoint: Endpoint) -> str:
    """The review's name for the endpoint's kind: MME, MCE Direct, MCE Serial, IC."""
    if isinstance(endpoint, MultiModelEndpointConfig):
        return "MME"
    if isinstance(endpoint, InferenceComponentEndpointConfig):
        return "IC"
    return f"MCE {endpoint.mode.value}"


def layout(endpoint: Endpoint, hostname: str | None = None) -> str:
    """The archive layout of the endpoint (or of its container ``hostname``): pinned for the README's examples,
    else what the configuration says."""
    pinned = PINNED_LAYOUTS.get((endpoint.name, hostname))
    if pinned is not None:
        return pinned
    if isinstance(endpoint, MultiModelEndpointConfig):
        return endpoint.layout or endpoint.image.default_layout
    if isinstance(endpoint, InferenceComponentEndpointConfig):
        component = next(c for c in endpoint.components if c.name == hostname)
        return component.layout or component.image.default_layout
    container = next(c for c in endpoint.containers if c.hostname == hostname)
    return container.layout or container.image.default_layout


def catalog(config: EnvironmentConfig) -> dict[str, dict[str, Any]]:
    """What the ModelStore must publish for each endpoint (its SSM parameter's JSON), by deployed name."""
    found: dict[str, dict[str, Any]] = {}
    for item in endpoints(config):
        name = config.endpoint_name(item.name)
        prefix = f"models/{name}/"
        if isinstance(item, MultiModelEndpointConfig):
            found[name] = {"endpoint": name, "kind": "multi-model", "layout": layout(item), "prefix": prefix}
            continue
        if isinstance(item, InferenceComponentEndpointConfig):
            found[name] = {
                "endpoint": name,
                "kind": "inference-components",
                "prefix": prefix,
                "containers": {
                    c.name: {"key": prefix + c.archive_key, "layout": layout(item, c.name)} for c in item.components
                },
            }
            continue
        found[name] = {
            "endpoint": name,
            "kind": "multi-container",
            "prefix": prefix,
            "containers": {
                c.hostname: {"key": prefix + c.model_data_key, "layout": layout(item, c.hostname)}
                for c in item.containers
                if c.model_data_key is not None
            },
        }
    return found


def served_prefixes(config: EnvironmentConfig) -> list[dict[str, Any]]:
    """What the artifact guard's function must watch (its ``SERVED_PREFIXES``), in configuration order."""
    entries = catalog(config)
    found: list[dict[str, Any]] = []
    for item in endpoints(config):
        name = config.endpoint_name(item.name)
        entry = entries[name]
        if isinstance(item, MultiModelEndpointConfig):
            found.append(
                {"endpoint": name, "layout": entry["layout"], "prefix": entry["prefix"], "warmUp": item.warm_up}
            )
            continue
        for container in entry["containers"].values():
            folder = container["key"].rsplit("/", 1)[0] + "/"
            found.append({"endpoint": name, "layout": container["layout"], "prefix": folder, "warmUp": False})
    return found


def archives_to_upload(config: EnvironmentConfig) -> int:
    """How many archives a first deploy must upload before Hosting: each container's and component's, and each
    multi-model canary's target (the smoke test invokes it on the first deploy)."""
    containers = sum(1 for e in config.multi_container_endpoints for c in e.containers if c.model_data_key)
    components = sum(len(e.components) for e in config.inference_component_endpoints)
    canaries = {(e.name, i.target_model) for e in config.multi_model_endpoints for i in e.smoke_tests}
    return containers + components + len(canaries)
