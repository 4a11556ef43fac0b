"""Where a run's files live: a local folder, a shared filesystem, or any URI pyarrow.fs accepts.

Every file is written atomically (temporary name + move), so a file that exists is complete:
that is what makes resume safe. A unit's files (a pack of trials trained together, or one
trial) are the unit of resume: a pack's trials finish together, so they are written together,
one file per table, not one per trial (per-trial files cost ~21 ms of writing on the worker
and ~15 ms of reading on the driver per trial, measured on 62 tiny trials on 2 cores: more
than such a trial's training inside a pack). The run's merged tables are rebuilt from the
units' files and can always be regenerated.

Layout of a run (`<storage>/<spec name>/`):
    spec.yaml               the resolved spec (with its spec_hash in the first line)
    results.parquet         docs/FORMATS.md section 4, merged from the trials
    curves.parquet          section 5
    units/<unit_id>/        results.parquet, curves.parquet (the unit's trials), done.json (written
                            last: spec_hash, trial_ids), error.txt
    logs/                   Ray Tune's own experiment folders (grid-<time>-<pid>/), one per run
    .lock                   held while a run writes here (pid, host)
Source models are shared by every run in the same storage: `<storage>/source-models/<key>/`.
"""
from __future__ import annotations

import io
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from paragrid.errors import UserError

# A lock whose holder we cannot check (another host) counts as stale after this long without a
# heartbeat; the holder refreshes it every HEARTBEAT_S while it runs.
STALE_AFTER_S = 600.0
HEARTBEAT_S = 60.0


class Storage:
    """A folder on some pyarrow filesystem, addressed with '/'-joined relative paths."""

    def __init__(self, location: str | Path):
        location = str(location)
        self.location = location
        try:
            if "://" in location:
                self.fs, root = pafs.FileSystem.from_uri(location)
            else:
                self.fs, root = pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(location))
        except (pa.ArrowException, ValueError, OSError) as err:
            raise UserError(f"storage {location!r}: not a path or a URI pyarrow understands "
                            f"({err})") from None
        self.root = root.rstrip("/") or "/"
        self.is_local = isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *[p.strip("/") for p in parts if p]])

    def uri(self, *parts: str) -> str:
        """A human-readable (and Tune-acceptable) address of a path."""
        p = self.path(*parts)
        if self.is_local:
            return p
        scheme = self.location.split("://", 1)[0]
        return f"{scheme}://{p}"

    # -- queries
    def exists(self, *parts: str) -> bool:
        return self.fs.get_file_info(self.path(*parts)).type != pafs.FileType.NotFound

    # -- bytes
    def read_bytes(self, *parts: str) -> bytes:
        with self.fs.open_input_stream(self.path(*parts)) as f:
            return f.read()

    def read_text(self, *parts: str) -> str:
        return self.read_bytes(*parts).decode()

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Atomically: a temporary sibling, then a move (a rename on local and shared disks)."""
        final = self.path(*parts)
        parent = final.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}-{final.rsplit('/', 1)[1]}"
        try:
            with self.fs.open_output_stream(tmp) as f:
                f.write(data)
            self.fs.move(tmp, final)
        except BaseException:
            try:
                self.fs.delete_file(tmp)
            except OSError:
                pass
            raise

    def write_text(self, text: str, *parts: str) -> None:
        self.write_bytes(text.encode(), *parts)

    def write_json(self, obj, *parts: str) -> None:
        self.write_text(json.dumps(obj, indent=1, default=str), *parts)

    def read_json(self, *parts: str):
        return json.loads(self.read_text(*parts))

    def delete(self, *parts: str) -> None:
        try:
            self.fs.delete_file(self.path(*parts))
        except (FileNotFoundError, OSError):
            pass

    # -- tables
    def write_parquet(self, df: pd.DataFrame, *parts: str) -> None:
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
        self.write_bytes(buf.getvalue(), *parts)

    def read_parquet(self, *parts: str) -> pd.DataFrame:
        return pq.read_table(self.path(*parts), filesystem=self.fs).to_pandas()


# ----------------------------------------------------------------------------- run layout

@dataclass(frozen=True)
class RunDir:
    """Names of the files of one run; see the module docstring."""

    storage: Storage
    name: str

    def at(self, *parts: str) -> tuple[str, ...]:
        return (self.name, *parts)

    @property
    def uri(self) -> str:
        return self.storage.uri(self.name)

    def unit(self, unit_id: str, filename: str = "") -> tuple[str, ...]:
        return self.at("units", unit_id, filename) if filename else self.at("units", unit_id)

    def unit_done(self, unit_id: str) -> dict | None:
        """The unit's done.json (written after its tables), or None if it has not finished."""
        try:
            done = self.storage.read_json(*self.unit(unit_id, "done.json"))
        except (FileNotFoundError, OSError, ValueError):
            return None
        return done if isinstance(done, dict) and isinstance(done.get("trial_ids"), list) else None

    def write_unit(self, unit_id: str, results: pd.DataFrame, curves: pd.DataFrame, done: dict) -> None:
        """An old marker out first, tables next, the new marker last: a done.json that exists
        vouches for both tables and names the trials they hold (done["trial_ids"])."""
        self.storage.delete(*self.unit(unit_id, "done.json"))
        self.storage.write_parquet(results, *self.unit(unit_id, "results.parquet"))
        self.storage.write_parquet(curves, *self.unit(unit_id, "curves.parquet"))
        done = {**done, "t_written": time.time()}  # when the tables are durable (bench/ reads it)
        self.storage.write_json(done, *self.unit(unit_id, "done.json"))

    def read_unit(self, unit_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        return (self.storage.read_parquet(*self.unit(unit_id, "results.parquet")),
                self.storage.read_parquet(*self.unit(unit_id, "curves.parquet")))

    def finished_units(self, spec_hash: str) -> dict[str, tuple[str, ...]]:
        """{unit id: its trial ids} of every unit finished under this spec hash: one listing of
        units/ and one small read per unit, so a finished grid is found without reading a table."""
        sel = pafs.FileSelector(self.storage.path(*self.at("units")), allow_not_found=True)
        out = {}
        for info in self.storage.fs.get_file_info(sel):
            if info.type != pafs.FileType.Directory:
                continue
            done = self.unit_done(info.base_name)
            if done and done.get("spec_hash") == spec_hash:
                out[info.base_name] = tuple(done["trial_ids"])
        return out

    def write_merged(self, results: pd.DataFrame, curves: pd.DataFrame) -> None:
        self.storage.write_parquet(results, *self.at("results.parquet"))
        self.storage.write_parquet(curves, *self.at("curves.parquet"))


# ----------------------------------------------------------------------------- lock

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
