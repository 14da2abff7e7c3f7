"""Messaging: what the hub sends to people (e-mail, SMS), through a provider, with a log of every message."""
