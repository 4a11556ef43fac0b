"""The dashboard's header: run identity, progress, the run's settings, and what to watch for.

The settings summary lists every setting that decides a number, including the initialisation
and the updates rule; results older than those columns say so ("not recorded") rather than
show a guess as a fact. Pills warn where the page's numbers need care: a tuned-same-corpus
architecture (optimistic), a fold design the calibrated test's df = 10 was not made for, cells
with cap-bound folds or folds at chance. The Holm switch sits here too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from paragrid.analysis.report._dashboard import esc, holm_switch_html, note_html
from paragrid.analysis.stats import ORIGIN_UNKNOWN, Design, origin_label
from paragrid.grid.spec import expand_trials, load_spec

SETTINGS = ["normalisation", "init", "updates", "layers", "width", "activation", "dropout", "lr",
            "optimizer", "batch_size", "max_epochs", "patience"]
# What an absent setting column means: the only behaviour paragrid had before it was recorded.
UNRECORDED = {"init": "not recorded (glorot-uniform, the only initialisation before it was)",
              "updates": "not recorded (per-epoch, the only schedule before it was)"}


def read_progress(rundir: Path) -> tuple[int | None, int | None, str]:
    """(done, total, note): from RUNDIR/progress.json if present, else the total from the
    resolved RUNDIR/spec.yaml the grid writes (expanded as the grid does). None where unknown;
    the note says why the total is unknown."""
    path = rundir / "progress.json"
    if path.exists():
        try:
            data = json.loads(path.read_text())
            done = data.get("trials_done", data.get("done"))
            total = data.get("trials_total", data.get("total"))
            return (int(done) if isinstance(done, (int, float)) else None,
                    int(total) if isinstance(total, (int, float)) else None, "")
        except (OSError, ValueError, AttributeError):
            pass
    spec = rundir / "spec.yaml"
    if not spec.exists():
        return None, None, ""
    try:
        return None, len(expand_trials(load_spec(spec)).trials), ""
    except Exception as err:  # an optional count must never break the report
        return None, None, f"total trial count unknown ({str(err).splitlines()[0][:160]})"


def settings_summary(results: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(settings shown as 'key = value', warnings for settings mixed within the run)."""
    shown, mixed = [], []
    for col in SETTINGS:
        if col not in results:
            if col in UNRECORDED:
                shown.append(f"{col} = {UNRECORDED[col]}")
            continue
        values = results[col]
        if values.nunique(dropna=False) > 1:
            mixed.append(f"mixed {col}: " + ", ".join(map(str, sorted(values.astype(str).unique()))))
            continue
        v = values.iloc[0]
        shown.append(f"{col} = {UNRECORDED.get(col, 'none') if pd.isna(v) else v}")
    return shown, mixed


def _pill(html: str, warn: bool = False) -> str:
    return f'<span class="pill{" warn" if warn else ""}">{html}</span>'


def _caution_pills(results: pd.DataFrame, summary: pd.DataFrame, test: str) -> list[str]:
    pills = []
    for origin in sorted(results["architecture_origin"].unique()):
        n = int((summary["architecture_origin"] == origin).sum())
        warn = origin in ("tuned-same-corpus", ORIGIN_UNKNOWN)
        pills.append(_pill(f"architecture: <b>{esc(origin_label(origin))}</b> ({n} cells)", warn))
    designs = {Design(r["fold_scheme"], int(r["k"]), int(r["n_repeats"])) for _, r in summary.iterrows()}
    off = sorted({d.label() for d in designs if d.unit is None and not d.calibrated_applies()})
    if off:
        pills.append(_pill(f"fold design {esc(', '.join(off))}: the calibrated test's df = 10 does "
                           "not strictly apply", warn=test == "calibrated"))
    units = sorted({d.label() for d in designs if d.unit is not None})
    if units:
        pills.append(_pill(f"{esc(', '.join(units))}: paired tests over speakers/sessions"))
    for col, what in (("n_cap_bound", "cap-bound folds"), ("n_chance", "folds at chance")):
        n = int((summary[col] > 0).sum())
        if n:
            pills.append(_pill(f'<a href="#checks"><b>{n}</b> cell(s) with {what}</a>', True))
    return pills


def header(rundir: Path, results: pd.DataFrame, summary: pd.DataFrame, test: str, alpha: float,
           use_holm: bool, generated: str, study: str = "", warning: str | None = None) -> str:
    """`study`: the caption naming fold scheme, design, normalisation and marker test;
    `warning`: the under-trained cells, if any."""
    names = sorted(results["spec_name"].astype(str).unique()) if "spec_name" in results else [rundir.name]
    hashes = sorted(results["spec_hash"].astype(str).unique()) if "spec_hash" in results else []
    trials = results["trial_id"].nunique() if "trial_id" in results else \
        len(results.drop_duplicates(["task", "target", "sources", "method", "budget", "repeat",
                                     "architecture_origin"]))
    done, total, progress_note = read_progress(rundir)
    pills = []
    if total:
        pills.append(_pill(f"<b>{done if done is not None else trials}</b> of <b>{total}</b> trials done",
                           (done or trials) < total))
    else:
        pills.append(_pill(f"<b>{trials}</b> trials done"))
    pills.append(_pill(f"<b>{len(results)}</b> fold results"))
    pills.append(_pill(f"<b>{len(summary)}</b> cells"))
    max_rep, max_folds = summary["n_repeats"].max(), summary["folds_per_repeat_max"].max()
    uneven = summary[(summary["n_repeats"] < max_rep) | (summary["folds_per_repeat_min"] < max_folds)]
    pills.append(_pill(f"up to <b>{max_rep}</b> repeats × <b>{max_folds}</b> folds"))
    if len(uneven):
        pills.append(_pill(f"<b>{len(uneven)}</b> cell(s) incomplete (grid still running?)", True))
    if len(hashes) > 1:
        pills.append(_pill(f"{len(hashes)} spec hashes mixed: {esc(', '.join(hashes))}", True))
    settings, mixed = settings_summary(results)
    pills += [_pill(esc(m), True) for m in mixed]
    pills += _caution_pills(results, summary, test)
    meta = (f"spec {esc(', '.join(names))}" + (f" · hash {esc(', '.join(hashes))}" if hashes else "")
            + f" · generated {esc(generated)} · significance: {esc(test)} test on k-fold cells, "
            f"α = {alpha:g}")
    out = [f'<header class="top"><h1>Transfer-learning report: {esc(", ".join(names))}</h1>'
           + (f'<div class="meta study"><b>{esc(study)}</b></div>' if study else "") +
           f'<div class="meta">{meta}</div><div class="pills">{"".join(pills)}</div>',
           holm_switch_html(use_holm)]
    if warning:
        out.append(note_html(esc(f"Warning: {warning}."), "warn"))
    if settings:
        out.append(note_html("Settings: " + esc(" · ".join(settings))))
    if progress_note:
        out.append(note_html(esc(progress_note)))
    spec = rundir / "spec.yaml"
    if spec.exists():
        out.append(f"<details><summary>spec.yaml</summary><pre>{esc(spec.read_text(errors='replace'))}"
                   "</pre></details>")
    out.append("</header>")
    return "".join(out)
