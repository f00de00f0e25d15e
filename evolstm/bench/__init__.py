"""Throughput and learning benchmarks: `python -m evolstm.bench`."""
