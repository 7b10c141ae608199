"""The registry: champion/challenger decisions, promotion and rollback by alias."""
