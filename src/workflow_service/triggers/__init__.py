"""Event triggers: a URL (`/v1/hooks/{id}`) that an outside system posts events to, authenticated by the trigger's
own secret (a Standard Webhooks signature, or a bearer token); each accepted event becomes one job with origin
`trigger`, its inputs mapped from the event by templates. A redelivered event (the same `webhook-id`) makes no
second job. Every event is recorded (`trigger_event`): the job it made, or why it was refused. The trigger history
(`GET /v1/workflows/{workflow}/triggers`) lists the workflow's schedules and triggers with their recent events.
See docs/triggers.md."""
