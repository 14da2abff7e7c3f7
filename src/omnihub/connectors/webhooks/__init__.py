"""Outbound webhooks: subscriptions, fan-out of domain events into a delivery log, signed HTTP delivery."""
