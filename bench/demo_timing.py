"""`paragrid demo` end to end, stage by stage: synthesise, extract, run the grid, write the report.

Why: issue 7 asks where the demo's wall time goes and sets a target: the scheduling overhead
(what Ray, Tune and the driver cost on top of training) under 5% of the demo's wall time.

How: the same public functions `paragrid demo` calls (paragrid/demo.py), each under its own
timer, in a fresh work folder (nothing reused: no corpora, no feature cache, no finished trials,
no stored source models). A sampler thread adds up the resident memory of this process and
every process below it (Ray's raylet, GCS and workers included; read from /proc) twice a
second: the demo's peak RSS.

The grid stage is split with the stamps the trials leave (time.time(), one clock on one
machine): target units (packs of trials) in `<run>/units/*/done.json` (t_enter, t_train0,
t_train1, t_written, trial_ids),
source models in `<storage>/source-models/*/meta.json` (t_enter, t_train0, t_train1; only models
trained in this run carry them). With `slots` trials at a time (cores // resources.cpu), the
grid offers wall x slots slot-seconds; what training does not fill is the scheduling overhead:

    overhead = grid wall x slots - (source + target training slot-seconds)
             = start-up  (run_grid called -> first trial entered: spec, features, Ray, Tune) x slots
             + in-trial  (trial entered -> training starts, training ends -> results written)
             + tail      (last trial ends -> run_grid returns: last merge, Ray shutdown) x slots
             + gaps      (the rest: between trials, idle slots waiting for source models)

The headline is that overhead in wall-equivalent seconds (/ slots) as a share of the whole
end-to-end wall time (all four stages), the figure issue 7's 5% target is about.

--spec runs another grid spec the same way (a file or a built-in name). A spec on other corpora
(paper-table2 names iemocap / msp-improv) is rewritten onto the synthetic ones, first corpus ->
synth-a, second -> synth-b, everything else kept (--no-map-corpora turns that off); --repeats
overrides the spec's repeats, so `--spec paper-table2 --repeats 1` is one real repeat of Table 2
(full architecture, 600 epochs, k = 10) on the synthetic corpora. A rewritten spec runs under
its own name (e.g. paper-table2-synth-r1). --utterances / --speakers shrink the synthetic
corpora, e.g. for a quick check; the defaults are exactly the demo's.

Run: .venv/bin/python bench/demo_timing.py [--spec paper-table2 --repeats 1] [--record]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path

import yaml

import benchlib

CORPORA = ("synth-a", "synth-b")
GRID_LISTS = ("targets", "sources")  # the grid keys that name corpora


def parse_args(argv=None) -> argparse.Namespace:
    ap = benchlib.parser(__doc__)
    ap.add_argument("--spec", default="demo", help="grid spec (default: the built-in demo)")
    ap.add_argument("--repeats", type=int, default=None, help="override the spec's repeats")
    ap.add_argument("--map-corpora", action=argparse.BooleanOptionalAction, default=True,
                    help="run a spec on other corpora on synth-a / synth-b (default: on)")
    ap.add_argument("--utterances", type=int, default=None, help="utterances per corpus (default: the demo's)")
    ap.add_argument("--speakers", type=int, default=None, help="speakers per corpus (default: the demo's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synth-jobs", type=int, default=None, help="processes writing the corpora (default: all cores)")
    ap.add_argument("--workdir", default=None, help="work folder (default: a temp dir, removed afterwards)")
    ap.add_argument("--address", default=None,
                    help="attach to a running Ray instance ('auto' after `ray start --head`) instead of "
                         "starting one: the grid's start-up then excludes ray.init")
    return ap.parse_args(argv)


# ----------------------------------------------------------------------------- the spec

def read_spec_doc(spec: str) -> dict:
    """The spec's YAML as data: a file, else a built-in name (resolved as paragrid.grid.spec does)."""
    from paragrid.errors import UserError
    from paragrid.grid.spec import builtin_names

    path = Path(spec)
    if path.is_file():
        text = path.read_text()
    elif spec in builtin_names():
        text = (resources.files("paragrid.grid") / "specs" / f"{spec}.yaml").read_text()
    else:
        raise UserError(f"--spec {spec}: neither a file nor a built-in spec ({', '.join(builtin_names())})")
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("corpora"), dict):
        raise UserError(f"--spec {spec}: expected a spec mapping with a 'corpora' block")
    return doc


def _map_sources(value, mapping: dict[str, str]):
    """Source sets as a spec writes them (lists of names, 'a+b' strings, 'none'), 'task@corpus'
    renamed; '@other' and plain label columns need no change."""
    def one(name):
        task, at, corpus = str(name).partition("@")
        return f"{task}@{mapping.get(corpus, corpus)}" if at else name

    def one_set(item):
        if isinstance(item, list):
            return [one(x) for x in item]
        if isinstance(item, str) and item != "none":
            return "+".join(one(x) for x in item.split("+"))
        return item

    return [one_set(s) for s in value] if isinstance(value, list) else value


def rewrite_spec(doc: dict, repeats: int | None = None, map_corpora: bool = True
                 ) -> tuple[dict, dict[str, str]]:
    """(the spec to run, {spec corpus: synthetic corpus}); `doc` is left as it is.

    Corpora other than synth-a / synth-b are renamed in order (first -> synth-a, second ->
    synth-b) wherever a grid key names them; their parquets become `<synthetic name>.parquet`
    (found in the features folder). A rewritten spec gets its own name, so its run folder never
    meets the demo's. Everything else (architecture, epochs, k, seed...) is kept.
    """
    from paragrid.errors import UserError

    out = copy.deepcopy(doc)
    names = [str(c) for c in doc["corpora"]]
    mapping: dict[str, str] = {}
    if map_corpora and not set(names) <= set(CORPORA):
        if len(names) > len(CORPORA):
            raise UserError(f"spec '{doc.get('name')}' names {len(names)} corpora; only "
                            f"{len(CORPORA)} synthetic ones exist to map them onto")
        mapping = dict(zip(names, CORPORA))
        out["corpora"] = {mapping[n]: f"{mapping[n]}.parquet" for n in names}
        blocks = [out] + [b for b in (out.get("experiments") or {}).values() if isinstance(b, dict)]
        for block in blocks:
            if "targets" in block:
                t = block["targets"]
                block["targets"] = [mapping.get(x, x) for x in t] if isinstance(t, list) else mapping.get(t, t)
            if "sources" in block:
                block["sources"] = _map_sources(block["sources"], mapping)
    suffix = "-synth" if mapping else ""
    if repeats is not None:
        if repeats < 1:
            raise UserError(f"--repeats must be >= 1, got {repeats}")
        out["repeats"] = repeats
        suffix += f"-r{repeats}"
    if suffix:
        out["name"] = f"{doc['name']}{suffix}"
    return out, mapping


def prepare_spec(spec: str, repeats: int | None, map_corpora: bool, folder: Path
                 ) -> tuple[str, dict, dict[str, str]]:
    """(what to pass to run_grid, the spec as data, the corpus mapping): the spec unchanged,
    or its rewrite written to `folder`."""
    doc = read_spec_doc(spec)
    new, mapping = rewrite_spec(doc, repeats, map_corpora)
    if new == doc:
        return spec, doc, mapping
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{new['name']}.yaml"
    path.write_text(yaml.safe_dump(new, sort_keys=False))
    return str(path), new, mapping


def slots_of(doc: dict) -> int:
    """Trials at a time on this machine: cores // resources.cpu (and GPUs / resources.gpu)."""
    res = doc.get("resources") or {}
    slots = int((os.cpu_count() or 1) // float(res.get("cpu", 1) or 1))
    gpu = float(res.get("gpu", 0) or 0)
    if gpu:
        import torch

        slots = min(slots, int(torch.cuda.device_count() / gpu))
    return max(1, slots)


# ----------------------------------------------------------------------------- stamps

class TreeRSS(threading.Thread):
    """Peak of the summed RSS of this process and all its descendants (Ray's processes included)."""

    def __init__(self, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.every, self.peak, self.stop = every, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(os.getpid()))
            self.stop.wait(self.every)


def tree_rss_bytes(root: int) -> int:
    """Summed RSS of process `root` and all its descendants, read from /proc (Linux; 0 elsewhere)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])   # the name may contain spaces
            rss[int(entry.name)] = int((entry / "statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def _read_json(files) -> list[dict]:
    out = []
    for f in sorted(files):
        try:
            out.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            pass
    return out


def trial_stamps(run_dir: Path) -> list[dict]:
    """done.json of every finished target unit (one per pack: its trials share the stamps)."""
    return _read_json(Path(run_dir).glob("units/*/done.json"))


def n_trials(targets: list[dict]) -> int:
    return sum(len(d.get("trial_ids", [])) for d in targets)


def source_stamps(storage: Path) -> list[dict]:
    """meta.json of every stored source model (a model reused from an earlier run has no stamps)."""
    return _read_json(Path(storage).glob("source-models/*/meta.json"))


def _stage(stamps: list[dict], t_grid0: float) -> dict:
    """A stage's wall interval (first training start -> last training end) and its slot-seconds."""
    s = [d for d in stamps if "t_train0" in d and "t_train1" in d]
    if not s:
        return {"n": 0, "wall_s": 0.0, "slot_s": 0.0, "from_s": None, "to_s": None}
    t0, t1 = min(d["t_train0"] for d in s), max(d["t_train1"] for d in s)
    return {"n": len(s), "wall_s": t1 - t0, "slot_s": sum(d["t_train1"] - d["t_train0"] for d in s),
            "from_s": t0 - t_grid0, "to_s": t1 - t_grid0}


def grid_split(t_grid0: float, t_grid1: float, sources: list[dict], targets: list[dict], slots: int) -> dict:
    """The grid's slot-seconds split into training and scheduling overhead (see the docstring).

    The parts add up to grid wall x slots by construction; `gaps` is the remainder, so a
    negative value would mean more trials ran at once than `slots` says."""
    wall, capacity = t_grid1 - t_grid0, (t_grid1 - t_grid0) * slots
    src, tgt = _stage(sources, t_grid0), _stage(targets, t_grid0)
    stamped = [d for d in sources + targets if "t_enter" in d and "t_train0" in d]
    ends = [d.get("t_written", d.get("t_train1")) for d in stamped]
    startup = (min(d["t_enter"] for d in stamped) - t_grid0) if stamped else wall
    tail = (t_grid1 - max(ends)) if stamped else 0.0
    setup = sum(d["t_train0"] - d["t_enter"] for d in stamped)
    write = sum(d["t_written"] - d["t_train1"] for d in targets if "t_written" in d and "t_train1" in d)
    training = src["slot_s"] + tgt["slot_s"]
    overhead = capacity - training
    parts = {"startup_slot_s": startup * slots, "in_trial_slot_s": setup + write, "tail_slot_s": tail * slots}
    parts["gaps_slot_s"] = overhead - sum(parts.values())
    return {"slots": slots, "grid_wall_s": wall, "grid_slot_s": capacity, "startup_s": startup,
            "tail_s": tail, "source_stage": src, "target_stage": tgt,
            "in_trial_overhead_s": {"setup": setup, "write": write},
            "training_slot_s": training, "overhead_slot_s": overhead, "overhead_wall_s": overhead / slots,
            "overhead_parts": parts,
            "unstamped_sources": sum("t_train0" not in d for d in sources)}


def split_table(g: dict) -> str:
    """The grid stage as a table: wall seconds, slot-seconds and share of the grid's slot-seconds."""
    slots, cap = g["slots"], g["grid_slot_s"] or float("nan")
    src, tgt, p = g["source_stage"], g["target_stage"], g["overhead_parts"]

    def row(name, wall, slot_s):
        return [name, wall, slot_s, f"{100 * slot_s / cap:.1f}%"]

    rows = [row(f"source stage: {src['n']} model(s) trained (first start -> last end)", src["wall_s"], src["slot_s"]),
            row(f"target stage: {tgt['n']} trial(s) trained (first start -> last end)", tgt["wall_s"], tgt["slot_s"]),
            row("scheduling overhead (wall-equivalent = slot-s / slots)", g["overhead_wall_s"], g["overhead_slot_s"]),
            row("- start-up: run_grid called -> first trial entered (spec, features, Ray, Tune)",
                g["startup_s"], p["startup_slot_s"]),
            row("- in trials: entered -> training, training -> results written",
                p["in_trial_slot_s"] / slots, p["in_trial_slot_s"]),
            row("- gaps between trials, idle slots (e.g. waiting for source models)",
                p["gaps_slot_s"] / slots, p["gaps_slot_s"]),
            row("- tail: last trial ends -> run_grid returns (last merge, Ray shutdown)",
                g["tail_s"], p["tail_slot_s"]),
            row(f"grid total ({slots} slot(s))", g["grid_wall_s"], g["grid_slot_s"])]
    return benchlib.md_table(["grid part", "wall s", "slot-s", "share of grid slot-s"], rows)


# ----------------------------------------------------------------------------- main

def main(argv=None) -> dict:
    args = parse_args(argv)
    from paragrid.analysis.report import write_report  # heavy: pandas, scipy, plotly
    from paragrid.features.corpora import load_corpus
    from paragrid.features.extract import extract_features
    from paragrid.features.synth import write_corpora
    from paragrid.grid.run import run_grid

    load0 = benchlib.load()
    info = benchlib.machine(None)
    info["threads"] = "per spec (resources.cpu)"
    own = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="paragrid-bench-demo-") if own else args.workdir).resolve()
    sampler = TreeRSS()
    sampler.start()
    stages: dict[str, float] = {}
    try:
        spec, doc, mapping = prepare_spec(args.spec, args.repeats, args.map_corpora, work / "spec")
        slots = slots_of(doc)
        corpora, features, storage = work / "corpora", work / "features", work / "runs"
        features.mkdir(parents=True, exist_ok=True)

        t = time.perf_counter()
        write_corpora(corpora, seed=args.seed, n_speakers=args.speakers, n_utterances=args.utterances,
                      jobs=args.synth_jobs)
        stages["1 synthesise"] = time.perf_counter() - t

        t = time.perf_counter()
        n_utt = 0
        for name in CORPORA:
            manifest = load_corpus(corpora / name / "manifest.csv", "manifest")
            n_utt += len(manifest)
            extract_features(manifest, features / f"{name}.parquet", progress=False)
        stages["2 extract"] = time.perf_counter() - t

        t, t_grid0 = time.perf_counter(), time.time()
        run_dir = run_grid(spec, storage=str(storage), features_dir=str(features), address=args.address)
        t_grid1 = time.time()
        stages["3 grid (Ray)"] = time.perf_counter() - t

        t = time.perf_counter()
        write_report(Path(run_dir), quiet=True)
        stages["4 report"] = time.perf_counter() - t
        targets, sources = trial_stamps(Path(run_dir)), source_stamps(storage)
    finally:
        sampler.stop.set()
        sampler.join()
        if own:
            shutil.rmtree(work, ignore_errors=True)
    load1 = benchlib.load()

    total = sum(stages.values())
    rows = [[name, s, f"{100 * s / total:.0f}%"] for name, s in stages.items()]
    rows.append(["total", total, "100%"])
    g = grid_split(t_grid0, t_grid1, sources, targets, slots)
    share, share_grid = g["overhead_wall_s"] / total, g["overhead_slot_s"] / g["grid_slot_s"]
    body = (benchlib.md_table(["stage", "wall s", "share"], rows) + "\n\n"
            + split_table(g))

    label = args.spec
    if mapping or args.repeats is not None:
        label += (f", {doc['repeats']} repeat(s)" if args.repeats is not None else "") + \
                 (" on synth-a/synth-b" if mapping else "")
    notes = [f"**scheduling overhead: {100 * share:.1f}% of the end-to-end wall time** (target < 5%): "
             f"grid wall x {slots} slot(s) - training slot-seconds = {g['overhead_slot_s']:.1f} slot-s, "
             f"i.e. {g['overhead_wall_s']:.1f} s wall-equivalent (/ {slots} slots), over the {total:.1f} s of "
             f"all four stages; {100 * share_grid:.1f}% of the grid stage alone",
             f"spec {doc.get('name')} ({args.spec}); {n_utt} utterances in {len(CORPORA)} synthetic corpora; "
             f"{n_trials(targets)} target trials in {len(targets)} units, {g['source_stage']['n']} source models trained in this run"
             + (f" ({g['unstamped_sources']} stored model(s) reused, unstamped)" if g["unstamped_sources"] else "")]
    if args.address:
        notes.append(f"Ray: attached to a running instance (--address {args.address}), so the start-up has no ray.init; "
                     "Tune may queue trials beyond the free slots (cluster mode)")
    if mapping:
        notes.append("corpora mapped onto the synthetic ones (everything else as in the spec): "
                     + ", ".join(f"{a} -> {b}" for a, b in mapping.items()))
    notes.append("source and target stages overlap in time (the DNN baselines train while sources do), so "
                 "their wall intervals do not add up; their slot-seconds do. A source model's end is its "
                 "t_train1 (saving it counts as a gap); slots = cores // resources.cpu")
    train = [d["t_train1"] - d["t_train0"] for d in targets if "t_train0" in d and "t_train1" in d]
    if train:
        setup = [d["t_train0"] - d["t_enter"] for d in targets if "t_train0" in d and "t_enter" in d]
        write = [d["t_written"] - d["t_train1"] for d in targets if "t_written" in d and "t_train1" in d]
        notes.append(f"target units: training median {statistics.median(train):.1f} s, set-up inside the trial "
                     f"(source models loaded, data) median {statistics.median(setup):.2f} s, writing results "
                     f"median {statistics.median(write):.2f} s")
    notes.append(f"peak summed RSS of this process and all its descendants (Ray included; shared pages count "
                 f"once per process), sampled every 0.5 s: "
                 f"{sampler.peak / 2**20:.0f} MiB; this process alone: {benchlib.peak_rss_mib():.0f} MiB")
    text = benchlib.section(f"demo_timing ({label}, end to end)", info, load0, load1,
                            body + "\n\n" + "\n".join(f"- {s}" for s in notes))
    result = {"bench": "demo_timing", "machine": info, "spec": args.spec, "spec_name": doc.get("name"),
              "repeats": doc.get("repeats"), "corpus_mapping": mapping, "stages_s": stages, "total_s": total,
              "utterances": n_utt, "trials": n_trials(targets), "trial_train_s": sum(train), "grid": g,
              "sched_overhead_share": share, "sched_overhead_share_grid": share_grid,
              "peak_tree_rss_mib": sampler.peak / 2**20, "rss_mib": benchlib.peak_rss_mib(), "load": [load0, load1]}
    benchlib.emit(text, result, args.record)
    return result


if __name__ == "__main__":
    main()
