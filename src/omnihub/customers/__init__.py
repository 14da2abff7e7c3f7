"""Customers: profiles, identities, resolution + merge, timeline, consent, tags, GDPR."""
