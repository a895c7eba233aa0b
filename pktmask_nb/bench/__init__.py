"""Benchmark suite (SPEC §9): synthetic captures and the measurements made on them."""
