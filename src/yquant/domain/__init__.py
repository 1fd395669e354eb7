"""The pure trading core: no I/O, no frameworks, only values and rules."""
