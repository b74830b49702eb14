"""modelctl: package, validate, upload, list, invoke and load-test models of the SageMaker hosting stacks."""
