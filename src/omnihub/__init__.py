"""omnihub: the omnichannel commerce hub."""

__version__ = "0.1.0"
