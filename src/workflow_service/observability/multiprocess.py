"""Prometheus multiprocess mode (WFS_METRICS_DIR): the processes of one host write their metrics to memory-mapped
files in one directory, and a scrape of any of them adds every file up.

prometheus-client names a process's files after an identifier; here it is `<host>-<pid>`, so that processes
of several containers sharing one directory (a volume) never write to the same file, whatever their pids.

A process that ends leaves its files behind, and the totals they hold must keep counting (a counter that
drops reads as a restart to Prometheus). So instead of deleting them, `fold` adds the counters and histograms
of the files of ended processes into one `*_archive.db` file per type and removes theirs: a process folds its
own files when it stops (`retire`), and, when it starts (`enable`), those of the processes of its host that
died without doing so. Files of other hosts' processes are left as they are (their liveness cannot be told
from here). Folding holds an exclusive lock on `<dir>/.fold.lock`; a scrape that reads the directory
meanwhile may see one process's figures twice or not at all for that instant.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import values
from prometheus_client.mmap_dict import MmapedDict

log = logging.getLogger(__name__)

FOLDED_TYPES = ("counter", "histogram", "summary")
"""The types whose values are totals, kept when their process ends (gauges of ended processes are dropped)."""
ARCHIVE = "archive"

_HOST = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def process_id() -> str:
    """This process's identifier in file names: `<host>-<pid>` (no `_`, which separates the parts of a name)."""
    return f"{_HOST}-{os.getpid()}"


def enable(directory: Path) -> None:
    """Write this process's metrics made from now on under `directory` (created if need be), after folding
    the files its host's dead processes left."""
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    fold(directory, _dead_here(directory))
    values.ValueClass = values.MultiProcessValue(process_identifier=process_id)


def disable() -> None:
    """Metrics made from now on are this process's own, in memory."""
    values.ValueClass = values.MutexValue
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


def retire(directory: Path) -> None:
    """This process stops writing metrics: its files are folded into the archive. Call it last."""
    values.close_all_multiprocess_files()
    fold(directory, {process_id()})
    disable()


def _owner(path: Path) -> tuple[str, str] | None:
    """The (type, process identifier) of a metrics file, None for an archive or another file."""
    if path.suffix != ".db":
        return None
    parts = path.stem.split("_")
    if parts[-1] == ARCHIVE or len(parts) < 2:
        return None
    return parts[0], parts[-1]


def _dead_here(directory: Path) -> set[str]:
    """The identifiers of this host's processes with files in `directory` that no longer run."""
    dead = set()
    for path in directory.glob("*.db"):
        owner = _owner(path)
        if owner is None:
            continue
        host, _, pid = owner[1].rpartition("-")
        if host == _HOST and pid.isdigit() and not _alive(int(pid)):
            dead.add(owner[1])
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    return True


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / ".fold.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def fold(directory: Path, processes: set[str]) -> int:
    """Add the totals of the files of `processes` to the archive, then remove their files. Returns how many
    files were folded."""
    if not processes:
        return 0
    folded = 0
    with _locked(directory):
        for path in sorted(directory.glob("*.db")):
            owner = _owner(path)
            if owner is None or owner[1] not in processes:
                continue
            kind = owner[0]
            if kind in FOLDED_TYPES:
                _add_to_archive(directory / f"{kind}_{ARCHIVE}.db", path)
            path.unlink(missing_ok=True)
            folded += 1
    if folded:
        log.info("metrics: folded %d file(s) of %d ended process(es) into the archive", folded, len(processes))
    return folded


def _add_to_archive(archive_path: Path, path: Path) -> None:
    archive = MmapedDict(str(archive_path))
    try:
        for key, value, _timestamp, _ in MmapedDict.read_all_values_from_file(str(path)):
            total, _ = archive.read_value(key)
            archive.write_value(key, total + value, 0.0)
    finally:
        archive.close()
