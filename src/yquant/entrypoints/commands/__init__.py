"""Operator subcommands, one module per concern.

Each module defines ``register(sub)`` that adds its subparsers to the `yquant` command; the CLI
finds the modules here by name, so a new concern is a new module and nothing else changes.
Handlers have the signature ``handler(settings, args) -> int``.
"""
