"""Runs every benchmark and appends its tables to BENCHMARKS.md (`make bench`)."""

from benchmarks import features, lifecycle

if __name__ == "__main__":
    features.main()
    lifecycle.main()
