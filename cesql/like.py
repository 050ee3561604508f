"""LIKE pattern matching (spec §3.4.3) in linear-ish time, without regular expressions.

``%`` matches any run of characters, ``_`` exactly one, ``\\%`` and ``\\_`` the
literal characters; every other character (a lone backslash too) matches itself,
case-sensitively.
"""

from __future__ import annotations

from typing import Final

# Pattern elements: a one-character string is a literal; these two are wildcards.
_ANY_ONE: Final = object()
_ANY_RUN: Final = object()


class LikePattern:
    """A compiled LIKE pattern; compile once, then call :meth:`matches` many times."""

    __slots__ = ("_elements", "_segments", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        elements: list[object] = []
        index = 0
        while index < len(pattern):
            char = pattern[index]
            if char == "\\" and pattern[index + 1 : index + 2] in ("%", "_"):
                elements.append(pattern[index + 1])
                index += 2
                continue
            if char == "%":
                if not elements or elements[-1] is not _ANY_RUN:  # "%%" is "%"
                    elements.append(_ANY_RUN)
            elif char == "_":
                elements.append(_ANY_ONE)
            else:
                elements.append(char)
            index += 1
        self._elements: tuple[object, ...] = tuple(elements)
        # Without "_", the pattern is literal segments between "%"s: use str methods.
        self._segments: tuple[str, ...] | None = None
        if _ANY_ONE not in self._elements:
            segments = [""]
            for element in self._elements:
                if element is _ANY_RUN:
                    segments.append("")
                else:
                    segments[-1] += str(element)
            self._segments = tuple(segments)

    def __repr__(self) -> str:
        return f"LikePattern({self.pattern!r})"

    def matches(self, value: str) -> bool:
        """Tell whether the whole of ``value`` matches the pattern."""
        if self._segments is not None:
            return _match_segments(self._segments, value)
        return _match_elements(self._elements, value)


def _match_segments(segments: tuple[str, ...], value: str) -> bool:
    if len(segments) == 1:
        return value == segments[0]
    first, last = segments[0], segments[-1]
    if len(value) < len(first) + len(last):
        return False
    if not value.startswith(first) or not value.endswith(last):
        return False
    start, stop = len(first), len(value) - len(last)
    for segment in segments[1:-1]:
        # Leftmost placement of each middle segment leaves the most room for the rest.
        found = value.find(segment, start, stop)
        if found < 0:
            return False
        start = found + len(segment)
    return True


def _match_elements(elements: tuple[object, ...], value: str) -> bool:
    # Wildcard matching that backtracks only to the last "%": O(len(value) * len(pattern)).
    element_index = value_index = 0
    run_index = -1
    run_value_index = 0
    count = len(elements)
    while value_index < len(value):
        if element_index < count:
            element = elements[element_index]
            if element is _ANY_RUN:
                run_index = element_index
                run_value_index = value_index
                element_index += 1
                continue
            if element is _ANY_ONE or element == value[value_index]:
                element_index += 1
                value_index += 1
                continue
        if run_index < 0:
            return False
        element_index = run_index + 1
        run_value_index += 1
        value_index = run_value_index
    while element_index < count and elements[element_index] is _ANY_RUN:
        element_index += 1
    return element_index == count
