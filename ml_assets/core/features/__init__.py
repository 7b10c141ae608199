"""The feature contract: the Feast repo's catalogue, the store, the aggregate sources, and
the one canonical model frame that training, batch scoring and serving share."""
