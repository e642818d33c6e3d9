"""Benchmarks: each prints its figures as one JSON line at the end."""
