"""Tools: the registered Python functions `tool` steps call (see engine/tools), listed over the API."""
