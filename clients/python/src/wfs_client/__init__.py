"""The `wfs` command and a typed Python client (sync and async) for workflow-service's public API.

from wfs_client import Client
with Client("http://127.0.0.1:8000", token) as wfs:
    job = wfs.submit_async("hello", "current", {"inputs": {"name": "Ada"}})
"""

from wfs_client import models
from wfs_client._retry import RetryPolicy
from wfs_client._sse import JobEvent
from wfs_client._version import __version__
from wfs_client.client import AsyncClient, Client
from wfs_client.errors import ApiError, ConnectionFailed, WfsError

__all__ = [
    "ApiError",
    "AsyncClient",
    "Client",
    "ConnectionFailed",
    "JobEvent",
    "RetryPolicy",
    "WfsError",
    "__version__",
    "models",
]
