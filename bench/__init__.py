"""Benchmarks at scale, run by ``make bench`` (``python -m bench``)."""
