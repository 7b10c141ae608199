"""Training: point-in-time training sets and logging a trained model to the registry."""
