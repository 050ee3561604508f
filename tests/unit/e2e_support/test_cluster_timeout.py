"""Against a cluster the scenarios have deadlines of their own (the volume scenario:
600 s, after up to 300 s of readiness waits in the session fixture), longer than
pytest-timeout's project-wide 300 s; the e2e conftest gives them a timeout that fits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import conftest as e2e
from tests.e2e.cluster import ClusterTarget
from tests.e2e.test_volume import DEADLINES


@dataclass
class Item:
    markers: list[Any] = field(default_factory=list)
    path: Path = e2e.HERE / "test_volume.py"

    def get_closest_marker(self, name: str) -> Any:
        return next((m for m in reversed(self.markers) if m.name == name), None)

    def add_marker(self, marker: Any) -> None:
        self.markers.append(getattr(marker, "mark", marker))


@dataclass
class Config:
    context: str | None

    def getoption(self, name: str) -> str | None:
        assert name == "--kube-context"
        return self.context


def timeouts(context: str | None, *items: Item) -> list[float | None]:
    e2e.pytest_collection_modifyitems(Config(context), list(items))  # type: ignore[arg-type]
    found = [item.get_closest_marker("timeout") for item in items]
    return [marker.args[0] if marker else None for marker in found]


def test_cluster_scenarios_outlive_their_own_deadlines() -> None:
    ready = ClusterTarget.__init__.__kwdefaults__["ready_timeout"]
    assert DEADLINES["cluster"] + ready + 60 <= e2e.CLUSTER_TEST_TIMEOUT
    (timeout,) = timeouts("kind-user-audit", Item())
    assert timeout == e2e.CLUSTER_TEST_TIMEOUT


def test_local_runs_keep_the_project_timeout_and_explicit_marks_win() -> None:
    assert timeouts(None, Item()) == [None]
    elsewhere = Item(path=e2e.HERE.parent / "unit" / "test_x.py")
    assert timeouts("kind-user-audit", elsewhere) == [None]
    explicit = Item([pytest.mark.timeout(42).mark])
    assert timeouts("kind-user-audit", explicit) == [42]
