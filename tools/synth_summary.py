"""Print one line per synthesized stack: stage, stack, resource count.

Usage: python -m tools.synth_summary [cdk.out]
"""

from __future__ import annotations

import sys
from pathlib import Path

from tools.cloud_assembly import synthesized_stacks
from tools.text_table import aligned


def summary_lines(outdir: Path) -> list[str]:
    """The summary table for ``outdir`` as text lines."""
    rows = [(s.stage, s.stack_name, str(s.resource_count())) for s in synthesized_stacks(outdir)]
    if not rows:
        return [f"no stacks found in {outdir}"]
    return aligned([("stage", "stack", "resources"), *rows], right=(2,))


def main(argv: list[str]) -> int:
    outdir = Path(argv[0] if argv else "cdk.out")
    if not (outdir / "manifest.json").is_file():
        print(f"error: {outdir} holds no cloud assembly (run make synth)", file=sys.stderr)
        return 2
    print("\n".join(summary_lines(outdir)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
