"""The version of the client package."""

__version__ = "0.1.0"
