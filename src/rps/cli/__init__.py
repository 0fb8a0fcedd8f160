"""The `rps` command line (Typer); each command is thin and builds what it needs via bootstrap."""
