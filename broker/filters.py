"""Trigger filters: one small type per dialect behind the `Filter` protocol.

Modelled on knative/eventing pkg/eventfilter: legacy `filter.attributes` and the
Subscriptions API dialects `exact`, `prefix`, `suffix`, `all`, `any`, `not`,
`cesql`. Filters only read attributes; they never see or change the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from cesql import Expression
from common.events.headers import canonical_string
from common.events.model import AttributeValue

Attributes = Mapping[str, AttributeValue]


class Filter(Protocol):
    def matches(self, attributes: Attributes) -> bool:
        """True when an event with these context attributes passes."""
        ...


def _text(attributes: Attributes, name: str) -> str | None:
    # Non-string attributes (integers, booleans) compare in their canonical text form.
    value = attributes.get(name)
    return None if value is None else canonical_string(value)


@dataclass(frozen=True, slots=True)
class MatchAll:
    """No filter at all: every event matches."""

    def matches(self, attributes: Attributes) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class ExactFilter:
    attribute: str
    value: str

    def matches(self, attributes: Attributes) -> bool:
        return _text(attributes, self.attribute) == self.value


@dataclass(frozen=True, slots=True)
class PrefixFilter:
    attribute: str
    prefix: str

    def matches(self, attributes: Attributes) -> bool:
        value = _text(attributes, self.attribute)
        return value is not None and value.startswith(self.prefix)


@dataclass(frozen=True, slots=True)
class SuffixFilter:
    attribute: str
    suffix: str

    def matches(self, attributes: Attributes) -> bool:
        value = _text(attributes, self.attribute)
        return value is not None and value.endswith(self.suffix)


@dataclass(frozen=True, slots=True)
class AllFilter:
    """AND; an empty list matches everything."""

    filters: tuple[Filter, ...]

    def matches(self, attributes: Attributes) -> bool:
        return all(f.matches(attributes) for f in self.filters)


@dataclass(frozen=True, slots=True)
class AnyFilter:
    """OR; an empty list matches everything (Knative treats it as no filter)."""

    filters: tuple[Filter, ...]

    def matches(self, attributes: Attributes) -> bool:
        return not self.filters or any(f.matches(attributes) for f in self.filters)


@dataclass(frozen=True, slots=True)
class NotFilter:
    filter: Filter

    def matches(self, attributes: Attributes) -> bool:
        return not self.filter.matches(attributes)


@dataclass(frozen=True, slots=True)
class CesqlFilter:
    """A CloudEvents SQL expression; an evaluation error counts as no match."""

    expression: Expression

    def matches(self, attributes: Attributes) -> bool:
        return self.expression.matches(attributes)


@dataclass(frozen=True, slots=True)
class AttributesFilter:
    """Legacy `filter.attributes`: every key present; `""` means any non-empty value."""

    attributes: tuple[tuple[str, str], ...]

    def matches(self, attributes: Attributes) -> bool:
        for name, expected in self.attributes:
            value = _text(attributes, name)
            if not value:
                return False
            if expected and value != expected:
                return False
        return True
