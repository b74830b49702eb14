"""modelctl's exit statuses, and the errors that carry one: printed as one line, never as a traceback."""

from __future__ import annotations

#: Exit statuses, documented in docs/OPERATIONS.md ("Models: adding, replacing, retiring"): each its own.
OK = 0
"""Done; the archive is valid; every archive the stage needs is there and valid."""
INVALID = 1
"""An archive breaks a rule (or the guard rejected it); preflight found an archive missing or not valid; a load
test had failed requests; a rescan left archives without a valid verdict."""
USAGE = 2
"""The command line cannot be carried out as given: an unknown option or value, a combination that does not
apply to the endpoint, a refusal (an existing key, a smoke-test canary)."""
AWS_ERROR = 3
"""AWS refused or could not be reached: no region, no or expired credentials, access denied, throttling, network."""
NOT_FOUND = 4
"""What the command names is not there: a file or folder, the environment's model store, an endpoint, a
container or component, a model, the cloud assembly."""
NO_VERDICT = 5
"""upload: the archive was uploaded, but the artifact guard gave no verdict within --wait."""
INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT, as shells report it)."""
INTERNAL = 70
"""A bug in modelctl (EX_SOFTWARE): one line; MODELCTL_TRACEBACK=1 shows the traceback."""


#: ClientError codes that say the named thing does not exist: S3's (HeadObject answers a bare 404), SSM's and the
#: other services'.
NOT_FOUND_CODES = frozenset(
    {"404", "NoSuchKey", "NoSuchVersion", "NoSuchBucket", "NotFound", "ResourceNotFound", "ParameterNotFound"}
)


class ModelctlError(Exception):
    """A user-facing error: printed as one line, never as a traceback; ``status`` is the exit status."""

    status = USAGE

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class NotFoundError(ModelctlError):
    """What the command names does not exist."""

    status = NOT_FOUND
