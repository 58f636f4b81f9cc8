"""Benchmarks run by ``make bench``; each prints figures measured side by side in one run."""

__all__: list[str] = []
