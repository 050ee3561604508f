"""Manifest loading: typed config, Knative's validation rules, errors that name
file, object and field, and the project's own k8s manifests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from broker.delivery import BROKER_DEFAULT_DELIVERY, BackoffPolicy, DeliveryFormat
from broker.filters import (
    AllFilter,
    AnyFilter,
    AttributesFilter,
    CesqlFilter,
    ExactFilter,
    MatchAll,
    NotFilter,
    PrefixFilter,
    SuffixFilter,
)
from broker.manifests import BrokerConfig, ManifestError, load_config

REPO = Path(__file__).resolve().parents[3]
BROKER = """\
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
  namespace: ns
"""
SERVICES = {"audit": "http://127.0.0.1:8080", "other.elsewhere": "http://127.0.0.1:9000/base/"}


def load(tmp_path: Path, triggers: str, broker: str = BROKER) -> BrokerConfig:
    path = tmp_path / "m.yaml"
    path.write_text(broker + "---\n" + textwrap.dedent(triggers))
    return load_config([path], SERVICES)


def trigger(spec: str, name: str = "t") -> str:
    return (
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\n"
        f"metadata:\n  name: {name}\n  namespace: ns\nspec:\n  broker: default\n"
        + textwrap.indent(textwrap.dedent(spec), "  ")
    )


URI = "subscriber:\n  uri: http://127.0.0.1:7000/\n"


def error(tmp_path: Path, triggers: str, broker: str = BROKER) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        load(tmp_path, triggers, broker)
    return info.value


def test_the_projects_own_manifests_validate() -> None:
    broker_yaml, triggers_yaml = REPO / "k8s/broker.yaml", REPO / "k8s/triggers.yaml"
    if not broker_yaml.exists() or not triggers_yaml.exists():
        pytest.skip("k8s/broker.yaml or k8s/triggers.yaml not written yet")
    config = load_config([broker_yaml, triggers_yaml], {"audit": "http://127.0.0.1:8080"})
    assert config.brokers
    assert config.triggers
    created = [t for t in config.triggers.values() if t.filter.matches({"type": "user.storeUser"})]
    assert created, "no Trigger routes user.storeUser"
    for t in created:
        assert t.subscriber == "http://127.0.0.1:8080"
        assert t.delivery.dead_letter_sink == "http://127.0.0.1:8080/dead-letter"


def test_filter_dialects_become_their_types(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        trigger(
            URI
            + textwrap.dedent(
                """\
            filters:
              - exact: {type: a}
              - prefix: {source: /s}
              - suffix: {subject: x}
              - all: [{exact: {type: a}}]
              - any: [{exact: {type: a}}]
              - not: {exact: {type: b}}
              - cesql: "type = 'a'"
              - {}
            """
            )
        ),
    )
    matcher = config.triggers["ns/t"].filter
    assert isinstance(matcher, AllFilter)
    kinds = [type(f) for f in matcher.filters]
    assert kinds == [
        ExactFilter,
        PrefixFilter,
        SuffixFilter,
        AllFilter,
        AnyFilter,
        NotFilter,
        CesqlFilter,
        MatchAll,
    ]


def test_legacy_filter_and_no_filter(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        trigger(URI + "filter:\n  attributes: {type: a, source: ''}\n", "legacy")
        + "---\n"
        + trigger(URI, "none"),
    )
    assert isinstance(config.triggers["ns/legacy"].filter, AttributesFilter)
    assert isinstance(config.triggers["ns/none"].filter, MatchAll)


def test_broker_defaults_and_trigger_delivery_replacement(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        trigger(URI, "inherits")
        + "---\n"
        + trigger(URI + "delivery:\n  retry: 2\n  format: json\n", "own"),
    )
    assert config.brokers["ns/default"].delivery == BROKER_DEFAULT_DELIVERY
    assert config.triggers["ns/inherits"].delivery == BROKER_DEFAULT_DELIVERY
    own = config.triggers["ns/own"].delivery
    assert own.retry == 2
    assert own.backoff_policy is None
    assert own.format is DeliveryFormat.JSON


def test_broker_delivery_applies_to_triggers_without_one(tmp_path: Path) -> None:
    broker = BROKER + textwrap.dedent(
        """\
        spec:
          delivery:
            retry: 3
            backoffPolicy: linear
            backoffDelay: PT1S
            timeout: PT5S
            deadLetterSink:
              ref: {apiVersion: v1, kind: Service, name: audit}
              uri: /dead-letter
        """
    )
    config = load(tmp_path, trigger(URI), broker)
    delivery = config.triggers["ns/t"].delivery
    assert delivery.retry == 3
    assert delivery.backoff_policy is BackoffPolicy.LINEAR
    assert delivery.backoff_delay == 1.0
    assert delivery.timeout == 5.0
    assert delivery.dead_letter_sink == "http://127.0.0.1:8080/dead-letter"


def test_destinations(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        trigger("subscriber:\n  ref: {apiVersion: v1, kind: Service, name: audit}\n", "a")
        + "---\n"
        + trigger(
            "subscriber:\n  ref: {apiVersion: v1, kind: Service, name: other, "
            "namespace: elsewhere}\n  uri: events\n",
            "b",
        ),
    )
    assert config.triggers["ns/a"].subscriber == "http://127.0.0.1:8080"
    # RFC 3986 resolution, as Knative's ResolveReference does.
    assert config.triggers["ns/b"].subscriber == "http://127.0.0.1:9000/base/events"


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        (URI + "bogus: 1\n", "spec.bogus", "not a field"),
        ("subscriber: {}\n", "spec.subscriber", "needs a ref"),
        ("subscriber:\n  uri: /relative\n", "spec.subscriber.uri", "absolute"),
        (
            "subscriber:\n  ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: a}\n",
            "spec.subscriber.ref",
            "v1, kind Service",
        ),
        (
            "subscriber:\n  ref: {apiVersion: v1, kind: Service, name: nobody}\n",
            "spec.subscriber.ref",
            "BROKER_SERVICES=nobody=",
        ),
        (
            "subscriber:\n  ref: {apiVersion: v1, kind: Service, name: audit}\n  uri: http://x/\n",
            "spec.subscriber.uri",
            "relative",
        ),
        (
            # A network-path reference keeps the ref's scheme but names another host.
            "subscriber:\n  ref: {apiVersion: v1, kind: Service, name: audit}\n"
            "  uri: //elsewhere.example/x\n",
            "spec.subscriber.uri",
            "another host",
        ),
        (
            "subscriber:\n  ref: {apiVersion: v1, kind: Service, name: audit}\n  uri: http:x\n",
            "spec.subscriber.uri",
            "relative",
        ),
        (
            "delivery:\n  deadLetterSink:\n    ref: {apiVersion: v1, kind: Service, name: audit}\n"
            "    uri: ///elsewhere.example/x\n" + URI,
            "spec.delivery.deadLetterSink.uri",
            "another host",
        ),
        (
            "subscriber:\n  uri: http://x/\n  CACerts: abc\n",
            "spec.subscriber.CACerts",
            "not a field",
        ),
        (
            URI + "filters:\n  - {exact: {type: a}, prefix: {type: b}}\n",
            "spec.filters[0]",
            "multiple dialects",
        ),
        (URI + "filters:\n  - exact: {type: a, source: b}\n", "spec.filters[0].exact", "only one"),
        (URI + "filters:\n  - exact: {Type: a}\n", "spec.filters[0].exact.Type", "attribute name"),
        (URI + "filters:\n  - prefix: {type: ''}\n", "spec.filters[0].prefix.type", "empty"),
        (URI + "filters:\n  - sql: x\n", "spec.filters[0].sql", "not a field"),
        (URI + "filters:\n  - cesql: 'type ='\n", "spec.filters[0].cesql", "CESQL"),
        (
            URI + "filters:\n  - all: [{not: {exact: {a-b: c}}}]\n",
            "spec.filters[0].all[0].not.exact.a-b",
            "attribute",
        ),
        (URI + "filters:\n  type: a\n", "spec.filters", "must be a list"),
        (URI + "filter:\n  attributes: {type: 1}\n", "spec.filter.attributes.type", "strings"),
        (URI + "filter:\n  attributes: {A: x}\n", "spec.filter.attributes.A", "attribute name"),
        (URI + "filter:\n  cesql: x\n", "spec.filter.cesql", "not a field"),
        (URI + "delivery:\n  retry: -1\n", "spec.delivery.retry", ">= 0"),
        (URI + "delivery:\n  backoffPolicy: random\n", "spec.delivery.backoffPolicy", "linear"),
        (URI + "delivery:\n  backoffDelay: 5s\n", "spec.delivery.backoffDelay", "ISO-8601"),
        (URI + "delivery:\n  timeout: PT0S\n", "spec.delivery.timeout", "longer than zero"),
        (URI + "delivery:\n  format: xml\n", "spec.delivery.format", "json or binary"),
        (URI + "delivery:\n  retryAfterMax: PT1S\n", "spec.delivery.retryAfterMax", "alpha"),
    ],
)
def test_errors_name_file_object_and_field(
    tmp_path: Path, spec: str, field: str, words: str
) -> None:
    exc = error(tmp_path, trigger(spec))
    assert exc.file == str(tmp_path / "m.yaml")
    assert exc.obj == "Trigger ns/t"
    assert exc.field == field
    assert words in str(exc)


def test_unknown_broker_is_named(tmp_path: Path) -> None:
    text = trigger(URI).replace("broker: default", "broker: missing")
    exc = error(tmp_path, text)
    assert exc.field == "spec.broker"
    assert "ns/missing" in str(exc)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", "kind"),
        (
            "apiVersion: eventing.knative.dev/v1beta1\nkind: Trigger\nmetadata: {name: s}\n",
            "apiVersion",
        ),
        (BROKER + "status: {}\n", "status"),
        (BROKER.replace("  namespace: ns\n", "  namespace: ns\n  uid: x\n"), "metadata.uid"),
    ],
)
def test_object_level_errors(tmp_path: Path, document: str, field: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(BROKER + "---\n" + document)
    with pytest.raises(ManifestError) as info:
        load_config([path], {})
    assert info.value.field == field


def test_repeated_yaml_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(BROKER + "---\n" + trigger(URI + "filter: {}\nfilter: {}\n"))
    with pytest.raises(ManifestError, match="repeated key"):
        load_config([path], {})


def test_missing_file_and_missing_broker(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="file not found"):
        load_config([tmp_path / "absent.yaml"], {})
    path = tmp_path / "m.yaml"
    path.write_text(trigger(URI))
    with pytest.raises(ManifestError, match="no Broker"):
        load_config([path], {})


def test_duplicate_trigger_is_an_error(tmp_path: Path) -> None:
    exc = error(tmp_path, trigger(URI) + "---\n" + trigger(URI))
    assert "defined twice" in str(exc)
