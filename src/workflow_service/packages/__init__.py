"""Workflow packages: a workflow's version moved between environments as a zip of three JSON files
(docs/packages.md). `spec` is the format, `passphrase` encrypts secure values in it."""
