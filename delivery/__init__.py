"""The delivery side as code: GitHub's OIDC provider and the roles the workflows assume (``make delivery``)."""
