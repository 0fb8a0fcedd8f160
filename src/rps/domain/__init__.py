"""The pure game: moves, round values, scoring, openings, personas and the bot's EV rule.

Standard library only; nothing here touches IO, time or global randomness.
"""
