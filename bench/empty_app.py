"""The baseline of the synth benchmark: the same stages, stacks, flags and rule packs, with nothing in them.

A stack needs one resource to be a valid template; each gets a WaitConditionHandle, which costs nothing.
"""

from __future__ import annotations

import aws_cdk as cdk

from stacks.compliance import add_compliance_checks
from stacks.environments import ENVIRONMENTS


def main() -> None:
    app = cdk.App()
    for config in ENVIRONMENTS:
        stage = cdk.Stage(app, config.stage_id, env=cdk.Environment(account=config.account, region=config.region))
        for name in ("ModelStore", "Hosting"):
            cdk.CfnWaitConditionHandle(cdk.Stack(stage, name), "Nothing")
        add_compliance_checks(stage)
    app.synth()


if __name__ == "__main__":
    main()
