"""The model registry (MLflow) and, later, the serving cache: adapters built by bootstrap."""
