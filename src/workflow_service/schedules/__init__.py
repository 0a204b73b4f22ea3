"""Schedules: a workflow run at the times of a cron expression or an interval (docs/schedules.md).

The trigger history reads them through `history.history_items`."""
