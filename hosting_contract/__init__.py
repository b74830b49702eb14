"""The contract shared by the CLI (``modelctl``), the Lambda functions and the constructs (and their stacks).

Every value that one side writes and another reads lives here once: the rules a model archive must pass and
the guard's verdict tags (``archive_rules``), the SSM parameter names (``ssm_paths``), deployed endpoint names
(``naming``), the artifact guard's limits (``guard_limits``) and served prefixes (``served_prefix``), each with
the one encoding both sides use.

Standard library only, and no import of anything outside this package: the artifact guard's and the scaling
guard's assets carry a copy of the whole package (``constructs_lib.hardened_function``), which the Lambda
imports as ``hosting_contract.<module>``, exactly as the CLI and the constructs do.
"""
