"""The run's merged tables, grown as trials finish, at a cost linear in the work.

Each unit writes its own files (units/<id>/results.parquet, curves.parquet, done.json naming
its trials); they are the truth. The driver merges them into the run's tables without ever
rereading or rewriting what it merged before:
  * while the grid runs, each flush (at most every MERGE_EVERY_S) appends ONE part file with the
    trials finished since the last flush to `parts/results-<n>.parquet` and to the curves
    dataset `curves.parquet/part-<n>.parquet` (a folder: pyarrow / pandas read it as one table);
  * at the end of the run (also after Ctrl-C) `results.parquet` is written once from the parts
    (results are small: 10^5 rows are a few MB); curves stay partitioned (they are big).
A re-run reads only the `trial_id` column of the parts to know what is merged, so resuming a
finished 10,000-trial grid reads no unit tables at all. Parts of another spec hash (the spec
changed) are removed first: the tables only ever hold the current spec's trials.
"""
from __future__ import annotations

import time

import pandas as pd
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from paragrid.grid.store import ResultRow, RunDir, typed

MERGE_EVERY_S = 10.0
RESULT_PARTS = "parts"
CURVES = "curves.parquet"


class Merger:
    def __init__(self, run: RunDir, spec_hash: str, order: list[str]):
        self.run, self.spec_hash = run, spec_hash
        self.rank = {tid: i for i, tid in enumerate(order)}
        self.merged: set[str] = set()
        # by unit id: (results, curves, the trial ids they add); `queued` is the union of those ids
        self.pending: dict[str, tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]] = {}
        self.queued: set[str] = set()
        self.n_parts = 0
        self.wrote = False  # a part was written in this session (results.parquet is then stale)
        self.last = 0.0
        self._open()

    # -- what is on disk already
    def _part_files(self, folder: str, prefix: str) -> list[str]:
        st = self.run.storage
        sel = pafs.FileSelector(st.path(*self.run.at(folder)), allow_not_found=True)
        return sorted(i.path for i in st.fs.get_file_info(sel)
                      if i.type == pafs.FileType.File and i.base_name.startswith(prefix))

    def _open(self) -> None:
        st = self.run.storage
        if st.exists(*self.run.at(CURVES)) and not self._is_dir(CURVES):
            st.delete(*self.run.at(CURVES))  # a single-file table of an older paragrid
        parts = self._part_files(RESULT_PARTS, "results-")
        if parts:
            tables = [pq.read_table(p, filesystem=st.fs, columns=["trial_id", "spec_hash"]) for p in parts]
            hashes = {h for t in tables for h in t.column("spec_hash").to_pylist()}
            if hashes - {self.spec_hash}:  # another spec wrote these: start the tables afresh
                self._clear()
            else:
                self.merged = {i for t in tables for i in t.column("trial_id").to_pylist()}
                self.n_parts = int(parts[-1].rsplit("-", 1)[1].split(".")[0]) + 1
        else:
            self._clear()

    def _is_dir(self, name: str) -> bool:
        st = self.run.storage
        return st.fs.get_file_info(st.path(*self.run.at(name))).type == pafs.FileType.Directory

    def _clear(self) -> None:
        st = self.run.storage
        for folder, prefix in ((RESULT_PARTS, "results-"), (CURVES, "part-")):
            for path in self._part_files(folder, prefix):
                st.fs.delete_file(path)
        st.delete(*self.run.at("results.parquet"))
        st.delete(*self.run.at(RESULT_PARTS, "consolidated"))
        self.merged, self.n_parts = set(), 0

    # -- growing
    @property
    def done(self) -> set[str]:
        return self.merged | self.queued

    def collect(self, units: dict[str, tuple[str, ...]]) -> None:
        """Queue the tables of finished units ({unit id: trial ids}) whose trials are not merged
        yet; a unit's done.json is read again, so only files that vouch for themselves count."""
        def known(t: str) -> bool:
            return t in self.merged or t in self.queued

        for uid, ids in units.items():
            if uid in self.pending or all(known(t) for t in ids):
                continue
            marker = self.run.unit_done(uid)
            if not marker or marker.get("spec_hash") != self.spec_hash:
                continue
            res, cur = self.run.read_unit(uid)
            new = [t for t in marker["trial_ids"] if not known(t)]
            if len(new) < len(marker["trial_ids"]):  # only what is not merged yet: never a row twice
                res, cur = res[res["trial_id"].isin(new)], cur[cur["trial_id"].isin(new)]
            self.pending[uid] = (res, cur, tuple(new))
            self.queued.update(new)

    def add(self, units: dict[str, tuple[str, ...]]) -> None:
        self.collect(units)
        self.flush()

    def flush(self, force: bool = False) -> None:
        if not self.pending or (not force and time.time() - self.last < MERGE_EVERY_S):
            return
        far = len(self.rank)
        uids = sorted(self.pending, key=lambda u: min((self.rank.get(t, far) for t in self.pending[u][2]), default=far))
        results = pd.concat([self.pending[u][0] for u in uids], ignore_index=True)
        curves = pd.concat([self.pending[u][1] for u in uids], ignore_index=True)
        n = self.n_parts
        # Curves first: a results part that exists vouches for its curves part.
        self.run.storage.write_parquet(curves, *self.run.at(CURVES, f"part-{n:06d}.parquet"))
        self.run.storage.write_parquet(results, *self.run.at(RESULT_PARTS, f"results-{n:06d}.parquet"))
        self.merged |= self.queued
        self.pending.clear()
        self.queued.clear()
        self.n_parts, self.last, self.wrote = n + 1, time.time(), True

    def finish(self) -> pd.DataFrame:
        """Flush, then write results.parquet once from the parts (in grid order)."""
        self.flush(force=True)
        st = self.run.storage
        if not self.wrote and self._consolidated() == self.n_parts and st.exists(*self.run.at("results.parquet")):
            return st.read_parquet(*self.run.at("results.parquet"))  # nothing new: keep it as it is
        parts = self._part_files(RESULT_PARTS, "results-")
        if not parts:
            st.delete(*self.run.at("results.parquet"))
            return pd.DataFrame()
        # Part by part (one read each, once per run): parts may differ in which columns are all null,
        # so the merged table gets the schema's dtypes again.
        results = typed(pd.concat([pq.read_table(p, filesystem=st.fs).to_pandas() for p in parts], ignore_index=True),
                        ResultRow)
        results = results.iloc[results["trial_id"].map(self.rank).fillna(len(self.rank))
                               .astype(int).argsort(kind="stable")].reset_index(drop=True)
        dup = results.duplicated(["trial_id", "fold"])
        if dup.any():  # collect never queues a merged trial again; refuse rather than double-count
            raise RuntimeError(f"duplicate (trial, fold) rows in {self.run.uri}: "
                               f"{results.loc[dup, 'trial_id'].unique()[:3].tolist()}")
        st.write_parquet(results, *self.run.at("results.parquet"))
        st.write_text(str(self.n_parts), *self.run.at(RESULT_PARTS, "consolidated"))
        return results

    def _consolidated(self) -> int:
        """How many parts results.parquet was last written from (-1: unknown)."""
        try:
            return int(self.run.storage.read_text(*self.run.at(RESULT_PARTS, "consolidated")))
        except (FileNotFoundError, OSError, ValueError):
            return -1
