"""The tuning view: `paragrid tune`'s history per corpus and Optuna's parameter importances.

Degrades to a note when the run has no tuning (RUNDIR/tune/trials.csv), or no stored study.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from paragrid.analysis.plots import importance_bars, tuning_history
from paragrid.analysis.report._dashboard import Section, esc, figure_html, note_html


def tuning(rundir: Path) -> Section:
    sec = Section("tuning", "Tuning",
                  "Architecture re-tuning with Optuna (<code>paragrid tune</code>), per target "
                  "corpus: the objective of every trial (validation UAR of a plain DNN on nested "
                  "folds, higher is better), the best so far among fully trained trials, and the "
                  "parameter importances when the Optuna study itself is stored next to the trials.")
    path = rundir / "tune" / "trials.csv"
    if not path.exists():
        sec.body.append(note_html("No tuning in this run (RUNDIR/tune/trials.csv not found)."))
        return sec
    try:
        trials = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        sec.body.append(note_html(f"{esc(path)} could not be read: {esc(err)}", "warn"))
        return sec
    if not {"number", "value"} <= set(trials.columns):
        sec.body.append(note_html(f"{esc(path)} lacks the columns number and value.", "warn"))
        return sec
    trials["value"] = pd.to_numeric(trials["value"], errors="coerce")
    if trials["value"].notna().any():
        sec.body.append(figure_html(tuning_history(trials)))
    groups = trials.groupby(trials["corpus"].astype(str)) if "corpus" in trials else [("", trials)]
    for corpus, g in groups:
        done = g[g["state"].astype(str) == "COMPLETE"] if "state" in g else g
        done = done[done["value"].notna()]
        if done.empty:
            sec.body.append(note_html(f"{esc(corpus)}: no completed trial yet."))
            continue
        best = done.loc[done["value"].idxmax()]
        params = {c[len("params_"):]: (f"{best[c]:.4g}" if isinstance(best[c], float) else best[c])
                  for c in g.columns if c.startswith("params_")}
        who = f"{esc(corpus)}: " if corpus else ""
        sec.body.append(note_html(
            f"{who}best of {len(done)} completed trials: trial {int(best['number'])}, validation "
            f"UAR {best['value']:.4f}; " + esc(", ".join(f"{k} = {v}" for k, v in params.items()))))
    importances, notes = study_importances(rundir / "tune")
    if importances:
        sec.body.append(figure_html(importance_bars(importances)))
    for n in notes:
        sec.body.append(note_html(f"Parameter importance: {esc(n)}"))
    return sec


def study_importances(tune_dir: Path) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Optuna's importances per stored study: RUNDIR/tune/<corpus>/optuna.db (what `paragrid
    tune` writes) or RUNDIR/tune/*.db. Returns {study label: importances} and notes on skips."""
    dbs = sorted(tune_dir.glob("*/optuna.db")) + sorted(tune_dir.glob("*.db"))
    if not dbs:
        return {}, ["skipped: no Optuna study stored in RUNDIR/tune/ (only trials.csv)."]
    import optuna  # heavy: optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out, notes = {}, []
    for db in dbs:
        label = db.parent.name if db.name == "optuna.db" else db.stem
        try:
            study = optuna.load_study(study_name=None, storage=f"sqlite:///{db}")
            out[label] = dict(optuna.importance.get_param_importances(study))
        except Exception as err:  # an optional view: any failure becomes a note, not a crash
            notes.append(f"skipped for {label} ({type(err).__name__}: {str(err).splitlines()[0][:160]})")
    return out, notes
