"""The `wfs` command and a typed Python client for workflow-service's public API."""

__version__ = "0.1.0"
