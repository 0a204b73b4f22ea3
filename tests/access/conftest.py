"""The API key tests' fixtures: the app with one client per bearer token."""

from __future__ import annotations

from tests.apikeys.conftest import admin, connect, issue_key
from tests.conftest import ClientFactory

__all__ = ["ClientFactory", "admin", "connect", "issue_key"]
