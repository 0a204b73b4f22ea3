"""arq's worker, taking the due messages of one poll in one Redis round trip.

arq marks each message it starts "in progress" with WATCH, EXISTS, ZSCORE and MULTI/EXEC: four round trips
per job, about a sixth of the worker's CPU under load (docs/benchmarks.md). `BatchWorker.start_jobs` does
the same checks and writes for every message of a poll in one Lua script, atomically, with arq's own keys
and rules: a message is started when it is still queued, due, and not in progress; else it is left alone.
Everything else (running the task, retries, finishing the message) is arq's.
"""

from __future__ import annotations

from typing import Any

from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker

# KEYS[1] the queue, KEYS[2..] the messages' in-progress keys; ARGV[1] now (ms), ARGV[2] the in-progress
# timeout (ms), ARGV[3..] the message ids. Returns id, score, id, score, ... of the messages it marked.
_START_LUA = """
local started = {}
for i = 2, #KEYS do
  local id = ARGV[i + 1]
  if redis.call('EXISTS', KEYS[i]) == 0 then
    local score = redis.call('ZSCORE', KEYS[1], id)
    if score and tonumber(score) <= tonumber(ARGV[1]) then
      redis.call('SET', KEYS[i], '1', 'PX', ARGV[2])
      started[#started + 1] = id
      started[#started + 1] = score
    end
  end
end
return started
"""


class BatchWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._start_script: Any = None

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Start what free slots allow of `job_ids`, in order; wait for a slot when none is free, as arq
        does. A message another worker marked first, or that left the queue meanwhile, is skipped."""
        waiting = [job_id.decode() for job_id in job_ids]
        while waiting:
            batch = await self._reserve(waiting)
            if not batch:
                return
            del waiting[: len(batch)]
            try:
                started = await self._mark(batch)
            except BaseException:
                for _ in batch:
                    self._release_sem_dec_counter_on_complete()
                raise
            for job_id in batch:
                score = started.get(job_id)
                if score is None:
                    self._release_sem_dec_counter_on_complete()
                    continue
                task = self.loop.create_task(self.run_job(job_id, score))
                task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
                self.tasks[job_id] = task

    async def _reserve(self, waiting: list[str]) -> list[str]:
        """Take a slot for the first waiting message (waiting for one if need be), then as many more as are
        free right now. Returns the messages that got one."""
        await self.sem.acquire()
        if self.job_counter >= self.max_jobs:
            self.sem.release()
            return []
        self.job_counter += 1
        batch = [waiting[0]]
        for job_id in waiting[1:]:
            if self.job_counter >= self.max_jobs or self.sem.locked():
                break
            await self.sem.acquire()  # a free permit: returns at once
            self.job_counter += 1
            batch.append(job_id)
        return batch

    async def _mark(self, batch: list[str]) -> dict[str, int]:
        if self._start_script is None:
            self._start_script = self.pool.register_script(_START_LUA)
        keys = [self.queue_name, *(in_progress_key_prefix + job_id for job_id in batch)]
        timeout_ms = int(self.in_progress_timeout_s * 1000)
        reply = await self._start_script(keys=keys, args=[timestamp_ms(), timeout_ms, *batch])
        pairs = iter(reply)
        return {_text(job_id): int(float(_text(score))) for job_id, score in zip(pairs, pairs, strict=True)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
