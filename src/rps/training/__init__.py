"""Training: the dataset, its game-wise splits, the three-step evaluation, configs, continuation
and scheduling (SPEC §5). Imports torch and xgboost through the model families, so the web
server's process never imports this package."""
