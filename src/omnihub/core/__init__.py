"""Shared kernel: database, events, errors, clock, money, security, pagination. Knows no domain."""
