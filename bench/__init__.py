"""Benchmarks of the real bot: `python -m bench.run` prints how fast and how cheap it is."""
