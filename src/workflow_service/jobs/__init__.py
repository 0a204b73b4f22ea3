"""Jobs: submission, the state machine, claims, leases, execution bookkeeping."""
