"""Worker processes: the agent runtime (heartbeats, reconciler, job runner) and the arq worker."""
