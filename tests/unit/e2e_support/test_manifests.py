"""The suite reads routing and delivery from the project's manifests; this pins what it
reads, so a manifest change that breaks an e2e assumption shows up here first."""

from __future__ import annotations

import pytest

from tests.e2e.manifests import Delivery, iso_seconds, load


def test_broker_and_triggers() -> None:
    m = load()
    assert m.broker_path == "/user-audit/default"
    assert m.sinkbinding == "user"
    assert {t.selected_type for t in m.triggers} == {
        "user.storeUser",
        "user.updateUser",
        "user.deleteUser",
    }
    assert m.trigger_for("user.somethingElse") is None


def test_delivery_windows() -> None:
    m = load()
    # Broker default: 5 retries, 0.5s exponential -> 0.5+1+2+4+8.
    assert m.delivery_for("user.storeUser") == Delivery(5, "exponential", 0.5)
    assert m.delivery_for("user.storeUser").retry_window() == pytest.approx(15.5)  # type: ignore[union-attr]
    # The delete Trigger brings its own, more patient delivery.
    assert m.delivery_for("user.deleteUser").retry == 8  # type: ignore[union-attr]


def test_linear_window() -> None:
    assert Delivery(3, "linear", 1.0).retry_window() == pytest.approx(0 + 1 + 2)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT0.5S", 0.5), ("PT10S", 10), ("PT2M", 120), ("PT1M30S", 90), ("PT1H", 3600)],
)
def test_iso_seconds(text: str, seconds: float) -> None:
    assert iso_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "PT", "P1D", "10s"])
def test_iso_seconds_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        iso_seconds(text)
