"""The figures the reliability suites measure (kills survived, events checked, fuzz
cases run, ...): printed at the end of the pytest run and written as JSON to
`$RELIABILITY_REPORT_DIR` (default `.data/reliability/`, git-ignored), which is where
docs/reliability.md's numbers come from."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

from devstack import REPO

REPORT_DIR = Path(os.environ.get("RELIABILITY_REPORT_DIR", REPO / ".data" / "reliability"))

_recorded: list[tuple[str, str, dict[str, object]]] = []


def record(group: str, name: str, figures: Mapping[str, object]) -> None:
    """Keep `figures` of one test (`group` is `chaos` or `fuzz`) for the summary and file."""
    entry = {"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **figures}
    _recorded.append((group, name, entry))
    try:
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        (REPORT_DIR / f"{group}-{name}.json").write_text(json.dumps(entry, indent=2) + "\n")
    except OSError:
        pass  # a read-only checkout still gets the printed summary


def summary(group: str) -> list[str]:
    """One line per recorded test of `group`."""
    lines = []
    for recorded_group, name, figures in _recorded:
        if recorded_group != group:
            continue
        shown = ", ".join(f"{k}={v}" for k, v in figures.items() if k != "recorded_at")
        lines.append(f"{name}: {shown}")
    return lines
