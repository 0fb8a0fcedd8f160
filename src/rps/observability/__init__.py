"""Metrics declared in one module, and logging setup."""
