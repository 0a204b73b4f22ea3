"""What the operator's own tools see of the service: Prometheus metrics (`GET /metrics`) and OpenTelemetry
traces. See docs/metrics.md."""
