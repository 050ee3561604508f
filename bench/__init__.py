"""Benchmarks: `python -m bench` (services end to end) and `python -m bench.codec_speed`."""
