"""workflow-service: versioned workflows run as durable jobs."""

__version__ = "0.1.0"
