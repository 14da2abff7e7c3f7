"""Inventory: locations, stock levels, the ledger, reservations, quotas, availability."""
