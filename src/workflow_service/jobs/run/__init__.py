"""Running a job on an agent, one concern per module: `claim.py` takes the job under a lease (and
answers a cache follower at its gate), `steps.py` runs its plan with checkpoints, cancellation and the
timeout, `finish.py` validates its output and writes its end through jobs/lifecycle.py, and `runner.py`
passes a job from one to the next. `errors.py` tells the errors that retry an attempt from the ones
that fail it.

Every write is fenced by (status, attempt, agent): an agent whose lease expired and whose job was
handed to another agent finds its writes refused and walks away, so no job is finished twice.
"""
