"""Storage: tables, migrations, the game repository and read-only queries (SPEC §10)."""
