"""Use cases shared by the API and the CLI: start a game, play a round, simulate, ..."""
