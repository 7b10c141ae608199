"""Monitoring: NannyML monitors per model version (fit, run), tidy tables, reports, and
the outcomes the checks report."""
