"""Domain-free plumbing: database, dispatch, outbound HTTP, clock, ids."""
