"""Benchmarks of the conversion (``make bench``, ``make bench-scale``); see docs/performance.md.

Run with ``python -m bench``; nothing here is imported by the converter or the tests
of other modules.
"""
