"""Catalog: products (SKUs), channels, prices per channel."""
