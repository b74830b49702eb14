"""The baseline of the synth benchmark: the same stages, stacks, flags and rule packs, with nothing in them.

The stages are ``app.py``'s: one per environment and region (``placements``), each with its ModelStore and its
Hosting stacks (``hosting_shards``). A stack needs one resource to be a valid template; each gets a
WaitConditionHandle, which costs nothing.
"""

from __future__ import annotations

import aws_cdk as cdk

from stacks.compliance import add_compliance_checks
from stacks.environments import ENVIRONMENTS
from stacks.hosting_shards import shards


def main() -> None:
    app = cdk.App()
    for environment in ENVIRONMENTS:
        for config in environment.placements():
            stage = cdk.Stage(app, config.stage_id, env=cdk.Environment(account=config.account, region=config.region))
            for name in ("ModelStore", *(shard.stack_id for shard in shards(config))):
                cdk.CfnWaitConditionHandle(cdk.Stack(stage, name), "Nothing")
            add_compliance_checks(stage)
    app.synth()


if __name__ == "__main__":
    main()
