"""Benchmarks: scripts that measure and print ``name: value`` lines (never timed tests)."""
