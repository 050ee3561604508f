"""Each filter dialect through a real broker: which Trigger gets which event.

One broker, one Trigger per case, each delivering to its own path of one
subscriber; five events go in once and every case checks its path got exactly
the events it should (matching) and none of the others (non-matching).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.broker.conftest import BrokerLauncher, RunningBroker, trigger_doc
from tests.support.subscriber import Subscriber

CASES: dict[str, tuple[dict[str, Any], set[str]]] = {
    # name: (trigger spec fields, ids of the events it must receive)
    "legacy-exact": ({"attributes": {"type": "dialect.a"}}, {"e1", "e5"}),
    "legacy-any-value": ({"attributes": {"type": "dialect.a", "subject": ""}}, {"e1"}),
    "legacy-extension": ({"attributes": {"priority": "7"}}, {"e1"}),
    "exact": ({"filters": [{"exact": {"type": "dialect.a"}}]}, {"e1", "e5"}),
    "exact-integer-as-string": ({"filters": [{"exact": {"count": "3"}}]}, {"e4"}),
    "prefix": ({"filters": [{"prefix": {"type": "dialect."}}]}, {"e1", "e2", "e5"}),
    "suffix": ({"filters": [{"suffix": {"source": "/orders"}}]}, {"e1", "e3"}),
    "all": (
        {"filters": [{"all": [{"prefix": {"type": "dialect."}}, {"exact": {"subject": "s1"}}]}]},
        {"e1"},
    ),
    "any": (
        {
            "filters": [
                {"any": [{"exact": {"type": "dialect.a"}}, {"exact": {"type": "dialect.b"}}]}
            ]
        },
        {"e1", "e2", "e5"},
    ),
    "not": ({"filters": [{"not": {"exact": {"type": "dialect.a"}}}]}, {"e2", "e3", "e4"}),
    "cesql": (
        {"filters": [{"cesql": "type LIKE 'dialect.%' AND priority > 5"}]},
        {"e1"},  # e5's priority "x" is not a number: an evaluation error, so no match
    ),
    "cesql-error-is-no-match": ({"filters": [{"cesql": "INT(subject) > 3"}]}, {"e4"}),
    "filters-list-is-anded": (
        {"filters": [{"prefix": {"type": "dialect."}}, {"suffix": {"type": ".b"}}]},
        {"e2"},
    ),
    "filters-win-over-filter": (
        {
            "filters": [{"exact": {"type": "dialect.b"}}],
            "attributes": {"type": "dialect.a"},
        },
        {"e2"},
    ),
    "no-filter": ({}, {"e1", "e2", "e3", "e4", "e5"}),
}

BINARY_EVENTS = [
    {"id": "e1", "type": "dialect.a", "source": "/orders", "subject": "s1", "priority": "7"},
    {"id": "e2", "type": "dialect.b", "source": "/users", "subject": "s2", "priority": "1"},
    {"id": "e3", "type": "other.c", "source": "/x/orders", "priority": "9"},
    {"id": "e5", "type": "dialect.a", "source": "/other", "priority": "x"},
]
# Structured, to carry an integer extension.
STRUCTURED_EVENT = {
    "specversion": "1.0",
    "id": "e4",
    "type": "count.d",
    "source": "/counts",
    "subject": "10",
    "count": 3,
}


@pytest.fixture(scope="module")
def routed(module_launcher: BrokerLauncher) -> Iterator[Subscriber]:
    """The subscriber after all events went through a broker with every case's Trigger."""
    with Subscriber() as subscriber:
        triggers = []
        for name, (spec, _) in CASES.items():
            doc = trigger_doc(name, f"{subscriber.url}/{name}")
            if "filters" in spec:
                doc["spec"]["filters"] = spec["filters"]
            if "attributes" in spec:
                doc["spec"]["filter"] = {"attributes": spec["attributes"]}
            triggers.append(doc)
        broker: RunningBroker = module_launcher(triggers)
        for event in BINARY_EVENTS:
            attributes = dict(event)
            broker.accept(attributes.pop("type"), id=attributes.pop("id"), **attributes)
        response = httpx.post(
            broker.ingress,
            headers={"content-type": "application/cloudevents+json"},
            content=json.dumps(STRUCTURED_EVENT),
        )
        assert response.status_code == 202
        subscriber.wait_for(sum(len(ids) for _, ids in CASES.values()))
        subscriber.settle(0.3)
        yield subscriber


@pytest.mark.parametrize("case", list(CASES))
def test_trigger_receives_exactly_the_matching_events(routed: Subscriber, case: str) -> None:
    _, expected = CASES[case]
    received = [r.ce["id"] for r in routed.on(f"/{case}")]
    assert sorted(received) == sorted(expected)
