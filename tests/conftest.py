"""Test set-up: jsii must run on the virtualenv's Node (24), not an end-of-life system Node.

Shared fixtures:

- ``synthesis`` / ``stages``: every configured stage, built and synthesized once per session by ``app.main``
  exactly as ``cdk synth`` runs ``app.py`` (same context, same validation report, same cloud assembly). With
  ``HOSTING_SYNTH_OUT=DIR`` the assembly is written to ``DIR`` at session start, whether or not a test asks for
  it, and cfn-lint reads it in a process of its own while the tests run, so that ``make test`` lints and reviews
  the very templates the tests read instead of synthesizing twice. Under pytest-xdist (``make test`` runs two
  workers) the first worker writes it and runs every test that uses it (``tests/scheduling.py``), so that the
  stages are synthesized once per run.
- ``moto``: a moto mock for the tests of a module that ask for it, with every backend reset before each test.
- ``quick_verdicts``: modelctl polls the guard's verdict every 50 ms instead of every 2 s.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

_VENV_BIN = str(Path(sys.executable).parent)
if not os.environ.get("PATH", "").startswith(_VENV_BIN):
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")
# No test may reach AWS: fake credentials and no metadata probing, whatever the machine has configured.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)


import pytest  # noqa: E402  (the environment above must be set before aws_cdk loads)

if TYPE_CHECKING:  # the CDK is imported by the tests that use it: the xdist controller, which runs none, starts no Node
    from stacks.stage import ModelHostingStage

# pytest-xdist's hooks that keep the tests that use the synthesis on one worker (registered here by their names).
from tests.scheduling import (  # noqa: E402, F401
    SYNTHESIS_WORKER,
    pytest_collection_modifyitems,
    pytest_configure_node,
    pytest_xdist_make_scheduler,
)
from tests.support import (  # noqa: E402
    CFN_LINT_IGNORED,
    SYNTH_OUT_VARIABLE,
    Moto,
    Synthesis,
    kms_private_keys_made_when_used,
    synthesize_like_the_cli,
)
from tests.tracing import aws_calls_untraced, jsii_marshalling_untraced  # noqa: E402

# Coverage measures our code: jsii's marshalling and the AWS calls (botocore, moto) run untraced (tests/tracing.py).
jsii_marshalling_untraced()

# -- the session's synthesis ------------------------------------------------------------------------------------

_synthesis: Synthesis | None = None
#: cfn-lint on the assembly written to ``HOSTING_SYNTH_OUT``, running beside the tests, and its output file.
_assembly_lint: tuple[subprocess.Popen[bytes], Path, str] | None = None
#: What the xdist workers reported about the assembly (read by the controller at the end of the session).
_worker_problems: list[str] = []


def _synth_out() -> Path | None:
    """The folder ``HOSTING_SYNTH_OUT`` names (relative to the working directory), if set."""
    value = os.environ.get(SYNTH_OUT_VARIABLE, "").strip()
    return Path(value).resolve() if value else None


def _is_xdist_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.hasplugin("dsession")


def _writes_the_assembly(config: pytest.Config) -> bool:
    """Whether this process writes ``HOSTING_SYNTH_OUT``: the only process, or the first xdist worker (the
    controller runs no test; the other workers synthesize for themselves, into a temporary folder)."""
    if _is_xdist_controller(config):
        return False
    worker: dict[str, Any] | None = getattr(config, "workerinput", None)
    return worker is None or worker.get("workerid") == SYNTHESIS_WORKER


def _synthesize(outdir: Path) -> Synthesis:
    global _synthesis
    if _synthesis is None:
        _synthesis = synthesize_like_the_cli(outdir)
    return _synthesis


#: Clean cfn-lint verdicts, one empty file per key (``_lint_key``): a run whose templates, cfn-lint version and
#: arguments are those of a clean run is clean without linting again. Findings are never kept: they are linted,
#: and reported, on every run. (.pytest_cache/ is ignored by git, like the coverage data there.)
_LINT_CACHE = Path(__file__).resolve().parents[1] / ".pytest_cache" / "cfn-lint-clean"


def _lint_key(outdir: Path, templates: list[str], arguments: list[str]) -> str:
    """What decides cfn-lint's verdict: its version, its arguments, the region it checks for (AWS_REGION or
    AWS_DEFAULT_REGION when no --regions is given), any .cfnlintrc it would read, each template's path and bytes."""
    from importlib import metadata

    digest = hashlib.sha256(metadata.version("cfn-lint").encode())
    for argument in [*arguments, os.environ.get("AWS_REGION", ""), os.environ.get("AWS_DEFAULT_REGION", "")]:
        digest.update(b"\0" + argument.encode())
    for settings in (Path.cwd() / ".cfnlintrc", Path.home() / ".cfnlintrc"):
        digest.update(b"\0" + (settings.read_bytes() if settings.is_file() else b""))
    for template in templates:
        digest.update(b"\0" + str(Path(template).relative_to(outdir)).encode() + b"\0")
        digest.update(Path(template).read_bytes())
    return digest.hexdigest()


def _start_assembly_lint(outdir: Path) -> None:
    """cfn-lint every template of the assembly in a process of its own, while the tests run (``make test``),
    unless the very same templates were found clean before (``_LINT_CACHE``)."""
    global _assembly_lint
    templates = sorted(str(path) for path in outdir.glob("assembly-*/*.template.json"))
    if not templates:
        return
    ignored = [argument for rule in CFN_LINT_IGNORED for argument in ("--ignore-checks", rule)]
    key = _lint_key(outdir, templates, ignored)
    if (_LINT_CACHE / key).is_file():
        return
    output = outdir.parent / f".{outdir.name}.cfn-lint.txt"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "cfn-lint"), *ignored, "--", *templates],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    _assembly_lint = (process, output, key)


def _assembly_problems() -> list[str]:
    """What is wrong with the assembly this process wrote: ``app.main``'s verdict, then cfn-lint's."""
    problems = []
    if _synthesis is not None and _synthesis.status != 0:
        problems.append(f"{SYNTH_OUT_VARIABLE}: app.main exited {_synthesis.status}:\n{_synthesis.stderr}")
    if _assembly_lint is not None:
        process, output, key = _assembly_lint
        if process.wait() != 0:
            problems.append(f"cfn-lint on {SYNTH_OUT_VARIABLE} exited {process.returncode}:\n{output.read_text()}")
        else:
            _LINT_CACHE.mkdir(parents=True, exist_ok=True)
            (_LINT_CACHE / key).touch()
        output.unlink(missing_ok=True)
    return problems


def pytest_sessionstart(session: pytest.Session) -> None:
    """With ``HOSTING_SYNTH_OUT`` set, synthesize into it now, whether or not a test asks for a stage (``make test``
    reviews it next), and cfn-lint it beside the tests."""
    outdir = _synth_out()
    if outdir is not None and _writes_the_assembly(session.config):
        _synthesize(outdir)
        _start_assembly_lint(outdir)


def pytest_testnodedown(node: Any, error: Any = None) -> None:
    """The controller collects what the worker that wrote the assembly found wrong with it. A worker that crashed
    has no output: xdist fails the session if a test was running, but not if it went down between tests (while
    synthesizing at session start, say), and its replacement never writes the assembly: that fails it here."""
    _worker_problems.extend(getattr(node, "workeroutput", {}).get("assembly_problems", []))
    writer = getattr(node, "workerinput", {}).get("workerid") == SYNTHESIS_WORKER
    if error is not None and writer and _synth_out() is not None:
        _worker_problems.append(f"{SYNTH_OUT_VARIABLE}: worker {SYNTHESIS_WORKER}, which writes it, went down: {error}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """``app.main``'s verdict and cfn-lint's decide ``make test`` too: a finding, a configuration error or a lint
    error fails the session even when no selected test reads the assembly."""
    if _synth_out() is None:
        return
    problems = _worker_problems if _is_xdist_controller(session.config) else _assembly_problems()
    worker_output: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if worker_output is not None:
        worker_output["assembly_problems"] = problems  # the controller reports them
        return
    for problem in problems:
        sys.stderr.write(f"\n{problem}")
    if problems and session.exitstatus == 0:
        session.exitstatus = 1


@pytest.fixture(scope="session")
def synthesis(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """Every configured stage as ``cdk synth`` builds it: ``app.main`` on an App with the CLI's context, its cloud
    assembly in ``HOSTING_SYNTH_OUT`` (or a temporary folder). Built once per session; shared, so never add
    constructs to its stages (build a stage of your own for that)."""
    writer = _writes_the_assembly(request.config)
    synthesized = _synthesize((_synth_out() if writer else None) or tmp_path_factory.mktemp("cdk.out"))
    if not synthesized.stages:
        pytest.fail(f"app.main built no stage (exit {synthesized.status}):\n{synthesized.stderr}")
    return synthesized


@pytest.fixture(scope="session")
def stages(synthesis: Synthesis) -> list[ModelHostingStage]:
    """Every environment's stage, built and synthesized as ``app.py`` does, compliance packs attached.

    Findings are reported, not raised (``app.main`` synthesizes with ``failSynthOnValidationErrors`` false), so
    that the compliance test can list them.
    """
    return synthesis.stages


# -- moto ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _moto_module() -> Iterator[None]:
    from moto import mock_aws

    # One mock, hence one boto3 session, per module: the session's service models load once, not per test.
    with mock_aws(), aws_calls_untraced(), kms_private_keys_made_when_used():
        yield


@pytest.fixture
def moto(_moto_module: None) -> Moto:
    """A moto mock in which nothing exists: every backend is reset before the test (moto's own reset, as its
    ``/moto-api/reset`` does), so tests of one module share the mock's set-up cost but never its state."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
    return Moto()


# -- modelctl -----------------------------------------------------------------------------------------------------


@pytest.fixture
def quick_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    """modelctl waits for the guard's verdict polling every 50 ms (2 s in use): the same loop, without the waits
    that only a real EventBridge delivery needs."""
    from modelctl import aws

    wait: Any = functools.partial(aws.wait_for_verdict, interval=0.05)
    monkeypatch.setattr(aws, "wait_for_verdict", wait)
