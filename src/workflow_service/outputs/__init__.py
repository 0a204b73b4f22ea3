"""Job outputs as files: a job's output, or one step's, downloaded as JSON, text, Markdown or PDF."""
