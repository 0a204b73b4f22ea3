"""Push callbacks: signed Standard Webhooks deliveries, stored as rows and retried on a schedule."""
