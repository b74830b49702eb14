"""The kinds of endpoint the artifact catalog knows, as the ModelStore publishes them and modelctl reads them."""

from __future__ import annotations

#: Multi-model: many archives under one prefix. Multi-container: one archive per container. Inference components:
#: one archive per component, kept in ``containers`` as well (the guard judges each like a container's).
MULTI_MODEL, MULTI_CONTAINER, INFERENCE_COMPONENTS = "multi-model", "multi-container", "inference-components"
#: Every kind, as ``EndpointArtifacts.kind`` takes it and ``modelctl`` reads it.
KINDS = (MULTI_MODEL, MULTI_CONTAINER, INFERENCE_COMPONENTS)
