"""Workflows: drafts, validation, immutable deployed versions."""
