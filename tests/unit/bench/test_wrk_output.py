"""Reading wrk's output: the bench scripts' result line and wrk's own text report.

The samples in wrk_output/ are real wrk 4.1.0 (Debian) output captured on the bench
machine: against the ceiling app, a 404 path, Flask past its limit, and a run cut
short by the scripts' per-thread request bound.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.wrk import (
    WrkError,
    duration_us,
    parse_result_line,
    parse_text_report,
    parse_wrk_output,
)

SAMPLES = Path(__file__).parent / "wrk_output"


def sample(name: str) -> str:
    return (SAMPLES / f"{name}.txt").read_text()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("410.00us", 410.0),
        ("1.53ms", 1530.0),
        ("955.70ms", 955_700.0),
        ("1.01s", 1_010_000.0),
        ("2.00m", 120_000_000.0),
        (" 28.64ms ", 28_640.0),
    ],
)
def test_durations_convert_to_microseconds(text: str, expected: float) -> None:
    assert duration_us(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "12", "1.5 parsecs", "ms"])
def test_a_non_duration_is_an_error(text: str) -> None:
    with pytest.raises(WrkError):
        duration_us(text)


def test_result_line_gives_exact_counts_and_percentiles() -> None:
    result = parse_result_line(sample("flask_timeouts"))
    assert result is not None
    assert result.requests == 3069
    assert result.duration_s == pytest.approx(3.018117)
    assert result.errors.timeout == 3
    assert result.errors.total == 3
    assert result.percentiles_ms == pytest.approx(
        {50.0: 123.522, 75.0: 141.558, 90.0: 160.764, 99.0: 183.859, 99.9: 652.345}
    )
    assert result.latency_max_ms == pytest.approx(955.703)
    assert result.requests_per_s == pytest.approx(3069 / 3.018117)


def test_text_report_agrees_with_the_result_line() -> None:
    text = sample("flask_timeouts")
    line = parse_result_line(text)
    report = parse_text_report(text)
    assert line is not None
    assert report.requests == line.requests
    assert report.errors == line.errors
    # The text report rounds: durations to 10 ms, latencies to 10 us.
    assert report.duration_s == pytest.approx(line.duration_s, abs=0.01)
    for q in (50.0, 75.0, 90.0, 99.0):
        assert report.percentiles_ms[q] == pytest.approx(line.percentiles_ms[q], abs=0.01)
    assert report.latency_mean_ms == pytest.approx(line.latency_mean_ms, abs=0.01)


def test_non_2xx_responses_are_not_counted_as_ok() -> None:
    for result in (
        parse_wrk_output(sample("non2xx")),
        parse_text_report(sample("non2xx")),
    ):
        assert result.requests == 14012
        assert result.errors.status == 14012
        assert result.ok_requests == 0
        assert result.ok_per_s == 0.0


def test_text_report_without_the_script_hook() -> None:
    text = sample("plain_latency")
    assert parse_result_line(text) is None
    result = parse_wrk_output(text)
    assert result.requests == 12801
    assert result.duration_s == pytest.approx(1.0)
    assert result.errors.total == 0
    assert result.percentiles_ms == pytest.approx({50.0: 0.393, 75.0: 1.15, 90.0: 2.77, 99.0: 6.74})
    assert result.latency_max_ms == pytest.approx(12.24)


def test_request_bound_stops_the_run_early() -> None:
    # bounded.txt: batch.lua with a bound of 50 requests per thread, 1 thread.
    result = parse_wrk_output(sample("bounded"))
    assert result.requests <= 50
    assert result.errors.total == 0


def test_output_without_a_result_is_an_error() -> None:
    with pytest.raises(WrkError, match="requests in"):
        parse_wrk_output(sample("connect_errors"))
