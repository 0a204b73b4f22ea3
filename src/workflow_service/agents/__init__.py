"""Agents: the worker processes that claim and run jobs, each serving one or more pools."""
