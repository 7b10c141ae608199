"""The outside world: a simulated card processor whose daily exports land in
``data/<problem>/landing``. Not a Dagster definition and never imported by the code location."""
