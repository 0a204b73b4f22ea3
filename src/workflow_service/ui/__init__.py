"""The web dashboard at /ui (docs/dashboard.md): server-rendered pages over the same API and policy."""
