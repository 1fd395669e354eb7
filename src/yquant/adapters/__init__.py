"""Adapters: databases, messaging and brokers. Venue vocabulary stays in here."""
