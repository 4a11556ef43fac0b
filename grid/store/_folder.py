"""Which folder a run of a spec writes to: one folder per spec hash, so nothing finished is lost.

`<storage>/<name>/` belongs to the spec hash named in its run.json. A changed spec (any setting
that changes a number) run under the same name goes to `<storage>/<name>-<first 8 of its hash>/`,
and the earlier run's results, parts and report stay as they are (and `paragrid report` on them
keeps working). `--replace` instead reuses `<name>/`: its tables start afresh and its report,
which would describe results that are gone, is removed. Source models are keyed by what they
are trained on, not by run, so every folder in one storage shares them.
"""
from __future__ import annotations

from paragrid.grid.store._storage import RunDir, Storage

SHORT_HASH = 8


def folder_hash(run: RunDir) -> str | None:
    """The spec hash a run folder belongs to (its run.json, else the first line of its
    spec.yaml), or None for a new or unreadable one."""
    try:
        value = run.storage.read_json(*run.at("run.json")).get("spec_hash")
        if isinstance(value, str):
            return value
    except (FileNotFoundError, OSError, ValueError, AttributeError):
        pass
    try:
        head = run.storage.read_text(*run.at("spec.yaml")).split("\n", 1)[0]
    except (FileNotFoundError, OSError, ValueError):
        return None
    return head.rsplit("spec_hash ", 1)[1].strip() if "; spec_hash " in head else None


def run_dir_for(storage: Storage, name: str, spec_hash: str, replace: bool = False) -> tuple[RunDir, str | None]:
    """(the run folder for this spec hash, a one-line note when it is not `<name>/` as before).

    `<name>/` when it is new, holds this hash, or `replace` is set; otherwise `<name>-<hash8>/`
    (which is also where a re-run of the changed spec resumes)."""
    base = RunDir(storage, name)
    held = folder_hash(base)
    if held is None or held == spec_hash:
        return base, None
    if replace:
        return base, (f"--replace: {base.uri} held spec_hash {held}; its results and report are "
                      f"replaced by this spec's ({spec_hash})")
    other = RunDir(storage, f"{name}-{spec_hash[:SHORT_HASH]}")
    return other, (f"{base.uri} holds another spec (spec_hash {held}) and stays as it is; this spec "
                   f"({spec_hash}) runs in {other.uri} (pass --replace to overwrite {base.uri} instead)")


def remove_report(run: RunDir) -> bool:
    """Delete the run's report/ (it describes results about to change); True if there was one."""
    st = run.storage
    if not st.exists(*run.at("report")):
        return False
    st.fs.delete_dir(st.path(*run.at("report")))
    return True
