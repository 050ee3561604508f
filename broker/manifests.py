"""Broker and Trigger objects from the project's Kubernetes manifests, validated strictly.

The local broker honours what it can and refuses the rest: an unknown or
unimplemented field, an invalid filter or an unresolvable address stops it with
a `ManifestError` naming the file, the object and the field. Nothing is ignored
silently.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from broker.delivery import (
    BROKER_DEFAULT_DELIVERY,
    BackoffPolicy,
    DeliveryFormat,
    DeliverySpec,
    parse_duration,
)
from broker.filters import (
    AllFilter,
    AnyFilter,
    AttributesFilter,
    CesqlFilter,
    ExactFilter,
    Filter,
    MatchAll,
    NotFilter,
    PrefixFilter,
    SuffixFilter,
)
from cesql import CesqlParseError, compile_expression

logger = logging.getLogger(__name__)

API_VERSION = "eventing.knative.dev/v1"
DEFAULT_NAMESPACE = "default"
ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9]*")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")


class ManifestError(Exception):
    """A manifest the broker cannot honour; the message names file, object and field."""

    def __init__(self, file: str, obj: str, field_path: str, message: str) -> None:
        where = ": ".join(part for part in (file, obj, field_path) if part)
        super().__init__(f"{where}: {message}")
        self.file = file
        self.obj = obj
        self.field = field_path
        self.message = message


@dataclass(frozen=True, slots=True)
class Broker:
    namespace: str
    name: str
    delivery: DeliverySpec
    file: str
    broker_class: str | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Trigger:
    namespace: str
    name: str
    broker: str
    filter: Filter
    subscriber: str
    delivery: DeliverySpec
    file: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def broker_key(self) -> str:
        return f"{self.namespace}/{self.broker}"


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Everything the data plane routes by; replaced as a whole on reload."""

    brokers: Mapping[str, Broker]
    triggers: Mapping[str, Trigger]
    by_broker: Mapping[str, tuple[Trigger, ...]] = field(default_factory=dict)

    def broker(self, namespace: str, name: str) -> Broker | None:
        return self.brokers.get(f"{namespace}/{name}")

    def triggers_of(self, broker: Broker) -> tuple[Trigger, ...]:
        return self.by_broker.get(broker.key, ())


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with a repeated key (YAML would keep the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in keys:
            raise yaml.constructor.ConstructorError(
                None, None, f"repeated key {key!r}", key_node.start_mark
            )
        keys.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


class _Object:
    """One manifest object being read: knows where it came from, to name it in errors."""

    def __init__(self, file: str, label: str) -> None:
        self.file = file
        self.label = label

    def error(self, field_path: str, message: str) -> ManifestError:
        return ManifestError(self.file, self.label, field_path, message)

    def mapping(self, value: Any, field_path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(field_path, "must be a mapping")
        return value

    def only(self, value: Mapping[str, Any], field_path: str, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        for key in value:
            if key not in allowed:
                raise self.error(
                    f"{field_path}.{key}" if field_path else str(key),
                    "is not a field the local broker implements "
                    f"(it implements: {', '.join(allowed)})",
                )

    def string(self, value: Any, field_path: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(field_path, "must be a non-empty string")
        return value

    def string_map(self, value: Any, field_path: str) -> dict[str, str]:
        mapping = self.mapping(value, field_path)
        for key, item in mapping.items():
            if not isinstance(key, str) or not isinstance(item, str):
                raise self.error(f"{field_path}.{key}", "keys and values must be strings")
        return mapping


class _Resolver:
    """Turns a Destination (`ref` to a v1 Service and/or `uri`) into an absolute URL."""

    def __init__(self, services: Mapping[str, str]) -> None:
        self.services = services

    def service_url(self, obj: _Object, field_path: str, name: str, namespace: str) -> str:
        for key in (f"{name}.{namespace}", name):
            if key in self.services:
                return self.services[key]
        raise obj.error(
            field_path,
            f"no local address for Service {name!r} in namespace {namespace!r}; "
            f"set BROKER_SERVICES={name}=http://127.0.0.1:<port>",
        )

    def destination(self, obj: _Object, value: Any, field_path: str, namespace: str) -> str:
        spec = obj.mapping(value, field_path)
        obj.only(spec, field_path, ("ref", "uri"))
        ref, uri = spec.get("ref"), spec.get("uri")
        if ref is None and uri is None:
            raise obj.error(field_path, "needs a ref, a uri or both")
        if uri is not None:
            uri = obj.string(uri, f"{field_path}.uri")
        base: str | None = None
        if ref is not None:
            ref_path = f"{field_path}.ref"
            ref_map = obj.mapping(ref, ref_path)
            obj.only(ref_map, ref_path, ("apiVersion", "kind", "name", "namespace"))
            api_version = ref_map.get("apiVersion")
            kind = ref_map.get("kind")
            if api_version != "v1" or kind != "Service":
                raise obj.error(
                    ref_path,
                    f"refers to {kind}/{api_version}; the local broker resolves only "
                    "apiVersion v1, kind Service",
                )
            name = obj.string(ref_map.get("name"), f"{ref_path}.name")
            ref_namespace = ref_map.get("namespace", namespace)
            ref_namespace = obj.string(ref_namespace, f"{ref_path}.namespace")
            base = self.service_url(obj, ref_path, name, ref_namespace)
        if base is None:
            assert uri is not None
            if not uri.startswith(("http://", "https://")):
                raise obj.error(
                    f"{field_path}.uri", "without a ref, must be an absolute http(s) URL"
                )
            return str(httpx.URL(uri))
        if uri is None:
            return base
        if uri.startswith(("//", "\\\\", "/\\", "\\/")):
            # RFC 3986 §4.2 network-path reference: it would keep the scheme, change the host.
            raise obj.error(
                f"{field_path}.uri",
                "starts with //, which names another host; with a ref it must be a path",
            )
        if urlsplit(uri).scheme or "://" in uri:
            raise obj.error(f"{field_path}.uri", "must be relative (a path) when a ref is given")
        origin = httpx.URL(base)
        resolved = origin.join(uri)
        if (resolved.scheme, resolved.host, resolved.port) != (
            origin.scheme,
            origin.host,
            origin.port,
        ):
            raise obj.error(f"{field_path}.uri", f"resolves to another host ({resolved.host})")
        return str(resolved)


def _delivery(
    obj: _Object, value: Any, field_path: str, namespace: str, resolver: _Resolver
) -> DeliverySpec | None:
    """The spec, or None when `delivery` is absent or sets no field."""
    if value is None:
        return None
    spec = obj.mapping(value, field_path)
    if "retryAfterMax" in spec:
        raise obj.error(
            f"{field_path}.retryAfterMax",
            "is an alpha Knative feature (delivery-retryafter) the local broker does not implement",
        )
    obj.only(
        spec,
        field_path,
        ("retry", "backoffPolicy", "backoffDelay", "timeout", "deadLetterSink", "format"),
    )
    if not spec:
        return None
    retry = spec.get("retry", 0)
    if not isinstance(retry, int) or isinstance(retry, bool) or retry < 0:
        raise obj.error(f"{field_path}.retry", "must be an integer >= 0")
    policy: BackoffPolicy | None = None
    if "backoffPolicy" in spec:
        try:
            policy = BackoffPolicy(spec["backoffPolicy"])
        except ValueError:
            raise obj.error(
                f"{field_path}.backoffPolicy", "must be linear or exponential"
            ) from None
    delay = _duration(obj, spec.get("backoffDelay"), f"{field_path}.backoffDelay", positive=False)
    timeout = _duration(obj, spec.get("timeout"), f"{field_path}.timeout", positive=True)
    dead_letter = None
    if "deadLetterSink" in spec:
        dead_letter = resolver.destination(
            obj, spec["deadLetterSink"], f"{field_path}.deadLetterSink", namespace
        )
    delivery_format: DeliveryFormat | None = None
    if "format" in spec:
        try:
            delivery_format = DeliveryFormat(spec["format"])
        except ValueError:
            raise obj.error(f"{field_path}.format", "must be json or binary") from None
    return DeliverySpec(
        retry=retry,
        backoff_policy=policy,
        backoff_delay=delay,
        timeout=timeout,
        dead_letter_sink=dead_letter,
        format=delivery_format,
    )


def _duration(obj: _Object, value: Any, field_path: str, *, positive: bool) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise obj.error(field_path, "must be an ISO-8601 duration string such as PT0.5S")
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise obj.error(field_path, str(exc)) from None
    if positive and seconds <= 0:
        raise obj.error(field_path, "must be longer than zero")
    return seconds


def _attribute_name(obj: _Object, name: Any, field_path: str) -> str:
    if not isinstance(name, str) or not ATTRIBUTE_NAME.fullmatch(name):
        raise obj.error(
            field_path,
            f"attribute name {name!r} must start with a letter and hold only a-z and 0-9",
        )
    return name


def parse_filters(obj: _Object, value: Any, field_path: str) -> tuple[Filter, ...]:
    """`filters` (Subscriptions API): a list of single-dialect elements, ANDed."""
    if not isinstance(value, list):
        raise obj.error(field_path, "must be a list of filters (each with one dialect)")
    return tuple(_filter_element(obj, item, f"{field_path}[{i}]") for i, item in enumerate(value))


def _single_pair(obj: _Object, value: Any, field_path: str) -> tuple[str, str]:
    mapping = obj.string_map(value, field_path)
    if len(mapping) != 1:
        raise obj.error(field_path, "Multiple items found, can have only one key-value")
    ((name, expected),) = mapping.items()
    _attribute_name(obj, name, f"{field_path}.{name}")
    if not expected:
        raise obj.error(f"{field_path}.{name}", "the value cannot be empty")
    return name, expected


def _filter_element(obj: _Object, value: Any, field_path: str) -> Filter:
    element = obj.mapping(value, field_path)
    obj.only(element, field_path, _DIALECTS)
    present = [
        dialect
        for dialect in _DIALECTS
        if dialect in element and element[dialect] not in (None, {}, [], "")
    ]
    if len(present) > 1:
        raise obj.error(
            field_path,
            f"multiple dialects found ({', '.join(present)}); "
            "filters can have only one dialect set",
        )
    if not present:
        return MatchAll()  # Knative treats an element with no dialect as no filter
    dialect = present[0]
    inner = element[dialect]
    path = f"{field_path}.{dialect}"
    if dialect == "exact":
        return ExactFilter(*_single_pair(obj, inner, path))
    if dialect == "prefix":
        return PrefixFilter(*_single_pair(obj, inner, path))
    if dialect == "suffix":
        return SuffixFilter(*_single_pair(obj, inner, path))
    if dialect == "all":
        return AllFilter(parse_filters(obj, inner, path))
    if dialect == "any":
        return AnyFilter(parse_filters(obj, inner, path))
    if dialect == "not":
        return NotFilter(_filter_element(obj, inner, path))
    text = obj.string(inner, path)
    try:
        return CesqlFilter(compile_expression(text))
    except CesqlParseError as exc:
        raise obj.error(path, f"invalid CESQL expression: {exc}") from None


def _legacy_filter(obj: _Object, value: Any, field_path: str) -> Filter | None:
    spec = obj.mapping(value, field_path)
    obj.only(spec, field_path, ("attributes",))
    if "attributes" not in spec or spec["attributes"] is None:
        return None
    attributes = obj.string_map(spec["attributes"], f"{field_path}.attributes")
    for name in attributes:
        _attribute_name(obj, name, f"{field_path}.attributes.{name}")
    if not attributes:
        return None
    return AttributesFilter(tuple(sorted(attributes.items())))


@dataclass(frozen=True, slots=True)
class _Metadata:
    name: str
    namespace: str


def _metadata(obj: _Object, value: Any) -> _Metadata:
    meta = obj.mapping(value, "metadata")
    # Labels and annotations carry no routing meaning for the data plane.
    obj.only(meta, "metadata", ("name", "namespace", "labels", "annotations"))
    name = obj.string(meta.get("name"), "metadata.name")
    if not _DNS_SUBDOMAIN.fullmatch(name) or len(name) > 253:
        raise obj.error("metadata.name", f"{name!r} is not a valid Kubernetes name")
    namespace = meta.get("namespace", DEFAULT_NAMESPACE)
    namespace = obj.string(namespace, "metadata.namespace")
    if not _DNS_LABEL.fullmatch(namespace) or len(namespace) > 63:
        raise obj.error("metadata.namespace", f"{namespace!r} is not a valid namespace")
    for key in ("labels", "annotations"):
        if meta.get(key) is not None:
            obj.string_map(meta[key], f"metadata.{key}")
    return _Metadata(name, namespace)


@dataclass(slots=True)
class _RawTrigger:
    obj: _Object
    meta: _Metadata
    spec: dict[str, Any]


def _read_documents(path: Path) -> list[tuple[_Object, dict[str, Any]]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(file, "", "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(file, "", "", f"cannot read: {exc}") from None
    try:
        documents = list(yaml.load_all(text, Loader=_StrictLoader))
    except yaml.YAMLError as exc:
        raise ManifestError(file, "", "", f"invalid YAML: {exc}") from None
    result = []
    for index, document in enumerate(documents, start=1):
        if document is None:
            continue
        anonymous = _Object(file, f"document {index}")
        if not isinstance(document, dict):
            raise anonymous.error("", "must be a mapping (a Kubernetes object)")
        kind = document.get("kind")
        metadata = document.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        label = (
            f"{kind} {name}" if isinstance(kind, str) and isinstance(name, str) else anonymous.label
        )
        obj = _Object(file, label)
        obj.only(document, "", ("apiVersion", "kind", "metadata", "spec"))
        if kind not in ("Broker", "Trigger"):
            raise obj.error("kind", f"{kind!r}: the local broker reads only Brokers and Triggers")
        if document.get("apiVersion") != API_VERSION:
            raise obj.error("apiVersion", f"must be {API_VERSION}")
        result.append((obj, document))
    return result


def load_config(paths: Sequence[Path], services: Mapping[str, str]) -> BrokerConfig:
    """Read, validate and resolve every Broker and Trigger in `paths`."""
    resolver = _Resolver(services)
    brokers: dict[str, Broker] = {}
    raw_triggers: list[_RawTrigger] = []
    for path in paths:
        for obj, document in _read_documents(path):
            meta = _metadata(obj, document.get("metadata"))
            obj.label = f"{document['kind']} {meta.namespace}/{meta.name}"
            spec = obj.mapping(document.get("spec", {}), "spec")
            if document["kind"] == "Broker":
                broker = _broker(obj, meta, spec, document, resolver)
                if broker.key in brokers:
                    raise obj.error("metadata.name", f"Broker {broker.key} is defined twice")
                brokers[broker.key] = broker
            else:
                raw_triggers.append(_RawTrigger(obj, meta, spec))
    if not brokers:
        raise ManifestError(
            ", ".join(str(p) for p in paths), "", "", "no Broker object found (kind: Broker)"
        )
    triggers: dict[str, Trigger] = {}
    for raw in raw_triggers:
        trigger = _trigger(raw, brokers, resolver)
        if trigger.key in triggers:
            raise raw.obj.error("metadata.name", f"Trigger {trigger.key} is defined twice")
        triggers[trigger.key] = trigger
    by_broker: dict[str, list[Trigger]] = {key: [] for key in brokers}
    for trigger in triggers.values():
        by_broker[trigger.broker_key].append(trigger)
    return BrokerConfig(
        brokers=brokers,
        triggers=triggers,
        by_broker={key: tuple(items) for key, items in by_broker.items()},
    )


def _broker(
    obj: _Object,
    meta: _Metadata,
    spec: dict[str, Any],
    document: dict[str, Any],
    resolver: _Resolver,
) -> Broker:
    obj.only(spec, "spec", ("delivery", "config"))
    if spec.get("config") is not None:
        # The channel/Kafka configuration of a cluster broker; the local queue replaces it.
        logger.info(
            "spec.config describes the cluster broker's backing store; locally the SQLite "
            "queue takes its place",
            extra={"file": obj.file, "object": obj.label},
        )
    delivery = _delivery(obj, spec.get("delivery"), "spec.delivery", meta.namespace, resolver)
    annotations = document["metadata"].get("annotations") or {}
    return Broker(
        namespace=meta.namespace,
        name=meta.name,
        delivery=delivery or BROKER_DEFAULT_DELIVERY,
        file=obj.file,
        broker_class=annotations.get("eventing.knative.dev/broker.class"),
    )


def _trigger(raw: _RawTrigger, brokers: Mapping[str, Broker], resolver: _Resolver) -> Trigger:
    obj, meta, spec = raw.obj, raw.meta, raw.spec
    obj.only(spec, "spec", ("broker", "filter", "filters", "subscriber", "delivery"))
    broker_name = obj.string(spec.get("broker"), "spec.broker")
    broker = brokers.get(f"{meta.namespace}/{broker_name}")
    if broker is None:
        raise obj.error(
            "spec.broker",
            f"Broker {meta.namespace}/{broker_name} is not defined in the manifests "
            f"(defined: {', '.join(sorted(brokers))})",
        )
    matcher: Filter | None = None
    if spec.get("filters"):
        # A non-empty `filters` wins over the legacy `filter` (Knative's rule).
        matcher = AllFilter(parse_filters(obj, spec["filters"], "spec.filters"))
        if spec.get("filter") is not None:
            _legacy_filter(obj, spec["filter"], "spec.filter")  # still validated
    elif spec.get("filters") is not None:
        parse_filters(obj, spec["filters"], "spec.filters")
    if matcher is None and spec.get("filter") is not None:
        matcher = _legacy_filter(obj, spec["filter"], "spec.filter")
    if "subscriber" not in spec:
        raise obj.error("spec.subscriber", "is required")
    subscriber = resolver.destination(obj, spec["subscriber"], "spec.subscriber", meta.namespace)
    delivery = _delivery(obj, spec.get("delivery"), "spec.delivery", meta.namespace, resolver)
    return Trigger(
        namespace=meta.namespace,
        name=meta.name,
        broker=broker_name,
        filter=matcher or MatchAll(),
        subscriber=subscriber,
        delivery=delivery or broker.delivery,
        file=obj.file,
    )
