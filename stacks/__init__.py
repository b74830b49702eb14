"""Composition of constructs into per-environment stages and stacks."""
