"""Parsing a binary-mode event is at least as fast as the official SDK's
`from_http_event` on the same message (issue #2). The method is
bench/codec_speed.py's: both parsers timed back to back in alternating order,
the median of seven per-run ratios, each over 2000 calls; that keeps machine
load, which drifts, out of the comparison."""

from __future__ import annotations

from bench.codec_speed import cases, check_same_events, measure


def test_item_39_binary_parse_is_not_slower_than_the_sdk() -> None:
    check_same_events()
    (binary,) = [case for case in cases() if case.name == "binary"]
    result = measure(binary, runs=7, number=2000)
    assert result.ratio >= 1.0, (
        f"ours {result.ours_us:.1f} µs vs SDK {result.sdk_us:.1f} µs per binary-mode parse"
    )
