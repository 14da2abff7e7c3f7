"""Billing: payment methods and gateways, split tender, refunds, store-credit spending, taxes, invoices and
credit notes with gapless numbers per series."""
