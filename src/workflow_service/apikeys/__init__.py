"""API keys: credentials that may call one workflow's endpoints and read the jobs they submitted."""
