-- Runs once, when the data directory is first created. POSTGRES_DB (mlflow) holds MLflow's
-- tracking store; the app's own database sits beside it (used by the scale-out overlay; the
-- single-node overlay keeps the app on SQLite and leaves this one empty).
CREATE DATABASE rps;
