"""One writer per run folder: a lock file with the holder's pid and host, and a heartbeat, so
that two `paragrid run`s of the same spec never interleave their files, and a crashed run's
lock is recognised as stale instead of blocking the folder for ever.
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid

from paragrid.errors import UserError
from paragrid.grid.store._storage import RunDir

# A lock whose holder we cannot check (another host) counts as stale after this long without a
# heartbeat; the holder refreshes it every HEARTBEAT_S while it runs.
STALE_AFTER_S = 600.0



HEARTBEAT_S = 60.0



class RunLock:
    """One writer per run folder: a `.lock` file naming the holder's host and pid.

    Created exclusively on local disks (O_EXCL); on object stores, written then read back.
    A lock is stale when its holder is provably gone (same host, pid not alive) or, for another
    host, when its heartbeat is older than STALE_AFTER_S; a stale lock is taken over with a
    notice. A live lock is a UserError naming the holder.
    """

    def __init__(self, run: RunDir, say=print):
        self.run, self.say = run, say
        self.parts = run.at(".lock")
        self.token = uuid.uuid4().hex
        self.held = False
        self._last_beat = 0.0

    def _record(self) -> dict:
        return {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                "started": time.time(), "heartbeat": time.time()}

    def acquire(self) -> None:
        st = self.run.storage
        for _ in range(3):
            if not st.exists(*self.parts):
                if self._create():
                    self.held = True
                    self._last_beat = time.time()
                    return
                continue
            try:
                other = st.read_json(*self.parts)
            except (FileNotFoundError, ValueError, OSError):
                other = {}
            why = self._stale(other)
            if why is None:
                raise UserError(
                    f"{self.run.uri} is being written by another run (host {other.get('host')}, "
                    f"pid {other.get('pid')}); wait for it to finish or stop it. If it is gone, "
                    f"delete {st.uri(*self.parts)}")
            self.say(f"note: taking over a stale lock on {self.run.uri} ({why})")
            st.delete(*self.parts)
        raise UserError(f"could not lock {self.run.uri}: another run keeps taking it")

    def _create(self) -> bool:
        st = self.run.storage
        data = json.dumps(self._record()).encode()
        if st.is_local:
            path = st.path(*self.parts)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return True
        st.write_bytes(data, *self.parts)  # no exclusive create on object stores: read it back
        time.sleep(0.2)
        try:
            return st.read_json(*self.parts).get("token") == self.token
        except (FileNotFoundError, ValueError, OSError):
            return False

    @staticmethod
    def _stale(other: dict) -> str | None:
        if not other:
            return "unreadable lock file"
        if other.get("host") == socket.gethostname():
            pid = other.get("pid")
            if not isinstance(pid, int) or not _pid_alive(pid):
                return f"pid {pid} on this host is not running"
            return None
        age = time.time() - float(other.get("heartbeat") or 0)
        if age > STALE_AFTER_S:
            return f"no heartbeat from host {other.get('host')} for {age / 60:.0f} min"
        return None

    def heartbeat(self) -> None:
        """Refresh the lock's timestamp (cheap; rate-limited) so other hosts see we are alive."""
        if self.held and time.time() - self._last_beat > HEARTBEAT_S:
            rec = self._record()
            self.run.storage.write_json(rec, *self.parts)
            self._last_beat = time.time()

    def release(self) -> None:
        if self.held:
            try:
                if self.run.storage.read_json(*self.parts).get("token") == self.token:
                    self.run.storage.delete(*self.parts)
            except (FileNotFoundError, ValueError, OSError):
                pass
            self.held = False

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()



def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not reaped) still answers kill(0); it is not holding anything.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True

