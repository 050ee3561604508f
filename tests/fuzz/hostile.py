"""Hypothesis strategies for the inputs attackers and careless clients send, which the
first fuzzers never generated: header values that are not ASCII, oversized headers and
bodies, JSON nested thousands deep or with thousands of keys, numbers at and beyond
the limits of every parser on the way, absurd TTLs, broken percent-encoding.

Sizes are drawn as numbers and the values built from them, so a 4 MiB header costs
hypothesis a few bytes of choices (its buffer stays small; shrinking works on sizes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hypothesis import strategies as st

KIB = 1024
MIB = 1024 * KIB

# -- header values ---------------------------------------------------------------------

#: Bytes a field value may not carry in HTTP/1.1 (RFC 9110 section 5.5) other than CR and
#: LF, which would end the field (header injection is a different class of input).
CONTROL = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])

non_ascii_text = st.text(
    st.characters(min_codepoint=0x80, exclude_categories=["Cs"]), min_size=1, max_size=12
)
visible_ascii = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12)


@st.composite
def non_ascii_value(draw: st.DrawFn) -> bytes:
    """UTF-8 text with non-ASCII characters, as a JavaScript or Go client sends it."""
    return (draw(visible_ascii) + draw(non_ascii_text) + draw(visible_ascii)).encode()


@st.composite
def latin1_value(draw: st.DrawFn) -> bytes:
    """obs-text: bytes 0x80-0xFF that are not UTF-8 (a latin-1 client)."""
    high = draw(st.binary(min_size=1, max_size=8).map(lambda b: bytes(0x80 | c for c in b)))
    return draw(visible_ascii).encode() + high + draw(visible_ascii).encode()


@st.composite
def control_value(draw: st.DrawFn) -> bytes:
    """A value with control characters (NUL, ESC, DEL...): invalid HTTP."""
    bad = draw(
        st.binary(min_size=1, max_size=4).map(lambda b: bytes(CONTROL[c % len(CONTROL)] for c in b))
    )
    return draw(visible_ascii).encode() + bad + draw(visible_ascii).encode()


#: Every kind of value that is not plain visible ASCII.
hostile_value = st.one_of(non_ascii_value(), latin1_value(), control_value())
#: Values HTTP/1.1 can carry (no control characters): servers must parse them.
carriable_value = st.one_of(non_ascii_value(), latin1_value())


def is_valid_field_value(value: bytes) -> bool:
    """RFC 9110 field-value: VCHAR, obs-text, SP and HTAB only."""
    return not any(c in CONTROL and c != 0x09 for c in value)


# -- oversized headers and bodies ----------------------------------------------------------

#: Single header values, from well under to well over any sane limit.
HEADER_SIZES = [100, 4 * KIB, 8 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB, 4 * MIB]
#: How many headers in one request.
HEADER_COUNTS = [50, 100, 500, 1000, 5000]
BODY_SIZES = [0, KIB, 64 * KIB, MIB - 8, MIB, MIB + 1, 4 * MIB]
#: JSON strings whose encoding is about each of BODY_SIZES long (valid as event data).
big_json_string = st.sampled_from(BODY_SIZES).map(lambda n: b'"' + sized(n, b"x") + b'"')


def sized(size: int, pattern: bytes) -> bytes:
    """`size` bytes repeating `pattern`."""
    return (pattern * (size // len(pattern) + 1))[:size]


@dataclass(frozen=True)
class Oversize:
    """Big headers for one request: `name` gets one value of `value_size` bytes, and
    `count` extra headers of `each` bytes follow."""

    name: bytes
    value_size: int
    count: int
    each: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        found = [(self.name, sized(self.value_size, b"abcdefgh"))] if self.value_size else []
        return found + [(b"x-fuzz-%d" % i, sized(self.each, b"v")) for i in range(self.count)]

    @property
    def total(self) -> int:
        """Bytes of the header section these add (names, values, separators)."""
        return sum(len(n) + len(v) + 4 for n, v in self.headers())


def oversize(names: st.SearchStrategy[bytes]) -> st.SearchStrategy[Oversize]:
    """One huge value, many headers, or both."""
    return st.one_of(
        st.builds(Oversize, names, st.sampled_from(HEADER_SIZES), st.just(0), st.just(0)),
        st.builds(
            Oversize,
            names,
            st.just(0),
            st.sampled_from(HEADER_COUNTS),
            st.sampled_from([1, 16, 200]),
        ),
        st.builds(
            Oversize, names, st.sampled_from(HEADER_SIZES[:4]), st.integers(1, 200), st.just(64)
        ),
    )


# -- JSON: deep, huge, extreme numbers -----------------------------------------------------


@dataclass(frozen=True)
class DeepJson:
    """Arrays or objects nested `depth` deep, optionally pretty-printed with newlines."""

    depth: int
    objects: bool
    separator: str  # between the brackets: "", " ", "\n", "\n  "

    def encode(self) -> bytes:
        opener, closer = ('{"a":', "}") if self.objects else ("[", "]")
        inner = "0"
        return (
            (opener + self.separator) * self.depth + inner + (self.separator + closer) * self.depth
        ).encode()


#: Depths around the limits of the parsers on the way: orjson stops at 1024, Python's
#: json at its recursion limit (about 1000 frames, fewer when called deep in a stack).
PARSER_DEPTHS = [255, 256, 512, 999, 1000, 1001, 1023, 1024, 1025, 2000, 3000]
deep_json = st.builds(
    DeepJson,
    st.one_of(st.sampled_from(PARSER_DEPTHS), st.integers(900, 1100), st.integers(1, 3000)),
    st.booleans(),
    st.sampled_from(["", " ", "\n", "\n  ", "\r\n", "\t"]),
)


@dataclass(frozen=True)
class HugeJson:
    """An object with `keys` keys whose values are strings of `length` characters."""

    keys: int
    length: int
    char: str

    def encode(self) -> bytes:
        value = self.char * self.length
        return json.dumps({f"k{i}": value for i in range(self.keys)}).encode()


huge_json = st.builds(
    HugeJson,
    st.sampled_from([1, 100, 1000, 10_000, 50_000]),
    st.sampled_from([0, 10, 1000, 100_000]),
    st.sampled_from(["a", "é", "😀", "\\", '"', "\u2028"]),
).filter(lambda h: h.keys * max(h.length, 8) * 4 <= 2 * MIB)

#: JSON number tokens at the edges of float64, int64, PostgreSQL numeric and Python's
#: int-to-str limit (4300 digits); each is valid JSON text.
EXTREME_NUMBERS = [
    "1e-20000",
    "-1e-20000",
    "1e400",
    "-1e400",
    "1e308",
    "2.2250738585072014e-308",
    "4.9e-324",
    "1e-400",
    "-0",
    "-0.0",
    "0e0",
    str(2**63 - 1),
    str(2**63),
    str(2**64 + 1),
    str(-(2**63) - 1),
    "1" * 30,
    "9" * 4300,
    "9" * 4301,
    "1" * 5000,
    "0." + "0" * 5000 + "1",
]
extreme_number = st.one_of(
    st.sampled_from(EXTREME_NUMBERS),
    st.just(2**17).map(lambda n: "1" + "0" * n),  # built, not listed: keeps reprs short
    st.integers(1, 6000).map(lambda n: "7" * n),
    st.integers(-20000, 20000).map(lambda e: f"1e{e}"),
)


@st.composite
def json_with_number(draw: st.DrawFn) -> bytes:
    """An event's data with an extreme number as a value, at some depth."""
    number = draw(extreme_number)
    wrap = draw(st.sampled_from(["{}", "[{}]", '{{"n":{}}}', '{{"a":[1,{{"b":{}}}]}}']))
    return wrap.format(number).encode()


#: Attribute values for CESQL casts: digit strings beyond int32, int64 and 4300 digits.
digit_string = st.one_of(
    st.sampled_from(EXTREME_NUMBERS),
    st.integers(1, 6000).map(lambda n: "8" * n),
    st.integers(1, 6000).map(lambda n: "-" + "1" * n),
    st.integers(1, 50).map(lambda n: "+" + "0" * n + "1"),
)

# -- TTLs --------------------------------------------------------------------------------

TTLS = [
    "99999999999999999999999",
    "9" * 5000,
    str(2**31),
    str(2**31 - 1),
    str(2**63),
    str(2**64 + 1),
    "-1",
    "0",
    "-0",
    "00000000000000000000001",
    "+5",
    " 5",
    "5 ",
    "1_000",
    "1e3",
    "0x10",
    "1.5",
    "",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: int() reads it, no wire format should
    "\uff15",  # FULLWIDTH DIGIT FIVE
    "NaN",
    "true",
]
ttl_value = st.one_of(
    st.sampled_from(TTLS).map(str.encode),
    st.integers(-(2**80), 2**80).map(lambda n: str(n).encode()),
    hostile_value,
)

# -- percent-encoding ------------------------------------------------------------------

PERCENT_CASES = [
    "%",
    "%%",
    "100%",
    "a b%c",
    "%zz",
    "%g0",
    "%0",
    "%e2%82",
    "%E2%82%AC",
    "%e2%82%ac",
    "%ff",
    "%C3%28",
    "%00",
    "%25",
    "%2525",
    "%7F",
    "%0D%0A",
    "caf%C3%A9",
    "%F0%9F%98%80",
    "%ED%A0%80",  # an encoded UTF-16 surrogate: not UTF-8
]
percent_value = st.one_of(
    st.sampled_from(PERCENT_CASES),
    st.lists(
        st.one_of(
            st.sampled_from(["%", "%2", "%zz", "%e2", "%82", "%41", "%c3%a9", " ", '"']),
            st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=4),
        ),
        min_size=1,
        max_size=6,
    ).map("".join),
)


def lenient_percent_decodes(value: str) -> bool:
    """True when `value` has a `%` the spec leaves open (not followed by two hex
    digits) and, with those kept as text, its escapes decode to valid UTF-8: what a
    receiver that keeps such a `%` literally must accept. A raw `"` is left out: the
    spec requires senders to encode it, and refusing it is the spec's own rule."""
    if is_strict_percent(value) or '"' in value:
        return False
    raw = bytearray()
    position = 0
    while position < len(value):
        escape = value[position + 1 : position + 3]
        if (
            value[position] == "%"
            and len(escape) == 2
            and all(c in "0123456789abcdefABCDEF" for c in escape)
        ):
            raw.append(int(escape, 16))
            position += 3
        else:
            raw += value[position].encode()
            position += 1
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def is_strict_percent(value: str) -> bool:
    """True when every `%` starts a two-hex-digit escape (what the spec defines)."""
    position = value.find("%")
    while position >= 0:
        escape = value[position + 1 : position + 3]
        if len(escape) < 2 or any(c not in "0123456789abcdefABCDEF" for c in escape):
            return False
        position = value.find("%", position + 3)
    return True
