"""Rewrite constructs_lib/data/cloudformation_regions.json from the installed cfn-lint's CloudFormation schemas.

cfn-lint ships, per region, the resource types CloudFormation offers there
(``cfnlint/data/schemas/providers/<region>.json``: resource type -> schema id), taken from AWS's
``aws-cloudformation/resource-provider-enhanced-schemas`` release whose date is in ``schemas/version.json``. A
type missing from a region's file is one CloudFormation does not offer in that region. cfn-lint is a test and
lint dependency, not installed for ``make synth``, so synth reads this small committed extract instead
(``constructs_lib.region_support``); ``tests/unit/test_region_support.py`` fails when the installed cfn-lint
disagrees with it.

Only the files bundled in the cfn-lint wheel are read, never the newer schemas cfn-lint may have downloaded to
the user's cache: the extract then follows the pin in requirements-dev.txt and is the same on every machine.

Usage: python -m tools.refresh_region_support [output.json]
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "constructs_lib" / "data" / "cloudformation_regions.json"
#: The resource types whose regions synth checks.
RESOURCE_TYPES = ("AWS::SageMaker::InferenceComponent",)
_DISTRIBUTION = "cfn-lint"
_SCHEMAS = "cfnlint/data/schemas"
#: providers/ also holds the SAM transform's types, which are no region.
_NOT_REGIONS = frozenset({"sam"})


def schemas_folder() -> Path:
    """The schemas bundled in the installed cfn-lint (``providers/``, ``version.json``)."""
    folder = Path(str(metadata.distribution(_DISTRIBUTION).locate_file(_SCHEMAS)))
    if not (folder / "providers").is_dir():
        raise SystemExit(f"error: {_DISTRIBUTION} {metadata.version(_DISTRIBUTION)} has no {_SCHEMAS}/providers/")
    return folder


def extract(folder: Path) -> dict[str, Any]:
    """The committed file's content from the schemas in ``folder``."""
    providers = {
        path.stem: json.loads(path.read_text())
        for path in sorted((folder / "providers").glob("*.json"))
        if path.stem not in _NOT_REGIONS
    }
    return {
        "generated_by": "python -m tools.refresh_region_support",
        "source": f"{_DISTRIBUTION} {_SCHEMAS}/providers/<region>.json",
        "cfn_lint_version": metadata.version(_DISTRIBUTION),
        "schema_date": json.loads((folder / "version.json").read_text())["schema_date"],
        "regions": sorted(providers),
        "offered_in": {
            resource_type: sorted(region for region, types in providers.items() if resource_type in types)
            for resource_type in RESOURCE_TYPES
        },
    }


def render() -> str:
    """The file's text as the installed cfn-lint yields it."""
    return json.dumps(extract(schemas_folder()), indent=2) + "\n"


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else OUTPUT
    text = render()
    changed = not output.is_file() or output.read_text() != text
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(f"{'wrote' if changed else 'unchanged:'} {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
