"""Following a job: its events in order (status changes from job_event, step starts and ends from the step
records), the server-sent event stream of them, and the long poll of GET /v1/jobs/{id}.

Every event has a place in its job's order, read from the database: a status change is at its job_event
id's slot (`positions.SLOT` places apart); a step's start and end, written in the transaction that holds
the job's row (its checkpoint's lease extension, or the move that ends the job), take places after
everything the job had then (jobs/repository/events.py). A stream resumes after the place a client last
saw (Last-Event-ID); notices (core/notify.py) only say when to read again.
"""
