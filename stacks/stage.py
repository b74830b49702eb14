"""One Stage per environment."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from constructs_lib.alarm_topic import AlarmNames
from stacks.config import EnvironmentConfig
from stacks.hosting_shards import HostingShard, shards
from stacks.hosting_stack import HostingStack
from stacks.model_store_stack import ModelStoreStack


class ModelHostingStage(cdk.Stage):
    """An environment: the stateful ModelStore stack and the stateless Hosting stacks that read from it."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(
            scope, construct_id, env=cdk.Environment(account=config.account, region=config.region), **kwargs
        )
        self.config = config
        # Only alarms named under the stage's prefix may publish to its alarm topic (see AlarmTopic). The endpoints'
        # alarms (alarm_factory) are named as they are created; the aspect, a call from the CDK for every
        # construct, covers the ModelStore, whose alarms other constructs create.
        alarm_names = AlarmNames.set_prefix(self, config.alarm_name_prefix)
        self.model_store = ModelStoreStack(
            self,
            "ModelStore",
            config=config,
            description=f"SageMaker hosting ({config.name}): model artifacts, KMS key, serving-image repository",
            termination_protection=config.retain_stateful_resources,
        )
        cdk.Aspects.of(self.model_store).add(alarm_names)
        # Independent of each other (each reads only the ModelStore), so they deploy in parallel.
        self.hosting_stacks = tuple(
            HostingStack(
                self,
                shard.stack_id,
                config=config,
                model_store=self.model_store,
                shard=shard,
                description=f"SageMaker hosting ({config.name}{_numbered(shard)}): models, endpoint configs, endpoints",
            )
            for shard in shards(config)
        )
        """The Hosting stacks (``hosting_stacks`` of the configuration), each holding the endpoints whose names
        hash to it."""

    @property
    def hosting(self) -> HostingStack:
        """The Hosting stack of an environment that has one (``hosting_stacks=1``)."""
        if len(self.hosting_stacks) != 1:
            raise ValueError(f"{self.node.path} has {len(self.hosting_stacks)} Hosting stacks: use hosting_stacks")
        return self.hosting_stacks[0]


def _numbered(shard: HostingShard) -> str:
    return "" if shard.count == 1 else f", {shard.index + 1} of {shard.count}"
