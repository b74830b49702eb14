"""modelctl: package, validate, upload, list, retire, invoke and load-test models of the SageMaker hosting stacks."""

#: The project's version (pyproject.toml's, which a test keeps it equal to): modelctl runs from the repository,
#: not from an installed distribution, so there is no package metadata to read it from.
__version__ = "0.1.0"
