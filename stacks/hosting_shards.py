"""Which Hosting stack holds an endpoint: a hash of its name alone, so that no endpoint ever moves when others
are added or removed.

An endpoint has a stable name, and CloudFormation cannot hand a named resource from one stack to another: an
endpoint that moved would be created in its new stack while the old stack still holds it (``EndpointName``
already exists) and deleted when the old stack lets go of it. So membership depends on nothing but the
endpoint's name and the environment's ``hosting_stacks``, which is chosen when the environment is created.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stacks.config import (
        EnvironmentConfig,
        InferenceComponentEndpointConfig,
        MultiContainerEndpointConfig,
        MultiModelEndpointConfig,
    )

#: The construct id of an environment's only Hosting stack (and the prefix of the ids of several).
HOSTING = "Hosting"


def shard_of(endpoint: str, count: int) -> int:
    """The index (0 to ``count`` - 1) of the Hosting stack that holds the endpoint configured as ``endpoint``.

    CRC-32 of the name: the same in every process and Python version (``hash()`` of a str is salted per process).
    """
    return zlib.crc32(endpoint.encode()) % count


def stack_id(index: int, count: int) -> str:
    """``Hosting`` for an environment with one Hosting stack, ``Hosting00``, ``Hosting01``... for several."""
    return HOSTING if count == 1 else f"{HOSTING}{index:02d}"


@dataclass(frozen=True)
class HostingShard:
    """The endpoints one Hosting stack holds."""

    index: int
    count: int
    multi_model_endpoints: tuple[MultiModelEndpointConfig, ...]
    multi_container_endpoints: tuple[MultiContainerEndpointConfig, ...]
    inference_component_endpoints: tuple[InferenceComponentEndpointConfig, ...] = ()

    @property
    def stack_id(self) -> str:
        """The stack's construct id."""
        return stack_id(self.index, self.count)

    def dashboard_name(self, environment: str) -> str:
        """``sagemaker-hosting-<env>``, with the stack's number when there are several."""
        base = f"sagemaker-hosting-{environment}"
        return base if self.count == 1 else f"{base}-{self.index:02d}"


def shards(config: EnvironmentConfig) -> tuple[HostingShard, ...]:
    """Every Hosting stack of ``config``, empty ones included: a stack that vanished from the app would stay
    deployed (``cdk deploy`` never deletes a stack), so the set of stacks depends on ``hosting_stacks`` alone."""
    count = config.hosting_stacks
    return tuple(
        HostingShard(
            index=index,
            count=count,
            multi_model_endpoints=tuple(e for e in config.multi_model_endpoints if shard_of(e.name, count) == index),
            multi_container_endpoints=tuple(
                e for e in config.multi_container_endpoints if shard_of(e.name, count) == index
            ),
            inference_component_endpoints=tuple(
                e for e in config.inference_component_endpoints if shard_of(e.name, count) == index
            ),
        )
        for index in range(count)
    )
