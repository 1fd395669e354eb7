"""Entrypoints: thin translations from the outside world to use cases."""
