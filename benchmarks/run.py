"""Runs every benchmark and appends its table to BENCHMARKS.md (`make bench`)."""

from benchmarks import features

if __name__ == "__main__":
    features.main()
