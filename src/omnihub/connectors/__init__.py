"""Connectors: the hub's edges to other systems (webhooks out, NATS, shops, ERP)."""
