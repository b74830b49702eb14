"""One Stage per environment."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from constructs_lib.alarm_topic import AlarmNames
from stacks.config import EnvironmentConfig
from stacks.hosting_stack import HostingStack
from stacks.model_store_stack import ModelStoreStack


class ModelHostingStage(cdk.Stage):
    """An environment: the stateful ModelStore stack and the stateless Hosting stack that reads from it."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(
            scope, construct_id, env=cdk.Environment(account=config.account, region=config.region), **kwargs
        )
        self.config = config
        # Only alarms named under the stage's prefix may publish to its alarm topic (see AlarmTopic).
        cdk.Aspects.of(self).add(AlarmNames(config.alarm_name_prefix))
        self.model_store = ModelStoreStack(
            self,
            "ModelStore",
            config=config,
            description=f"SageMaker hosting ({config.name}): model artifacts, KMS key, serving-image repository",
            termination_protection=config.retain_stateful_resources,
        )
        self.hosting = HostingStack(
            self,
            "Hosting",
            config=config,
            model_store=self.model_store,
            description=f"SageMaker hosting ({config.name}): models, endpoint configs, endpoints",
        )
