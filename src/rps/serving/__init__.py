"""Serving: alias assignment now; the model manager, EV serving and capture arrive with models."""
