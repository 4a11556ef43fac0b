"""The dashboard's views: each function turns the analysed run into one `Section`.

Every view degrades to a short note instead of failing when its data is absent (no curves, no
cross-corpus rows, no tuning study, a grid still running), because the report is meant to be
refreshed while a grid runs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from paragrid.analysis import plots
from paragrid.analysis.cells import method_label
from paragrid.analysis.dashboard import Section, esc, figure_html, frame_html, note_html, table_html
from paragrid.analysis.paper import paper_p
from paragrid.analysis.stats import TEST_LABEL
from paragrid.analysis.tables import Table, table2_columns

SETTINGS = ["normalisation", "layers", "width", "activation", "dropout", "lr", "optimizer",
            "batch_size", "max_epochs", "patience"]


def fmt_p(p) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def fmt_num(v, digits: int = 3) -> str:
    return "n/a" if v is None or pd.isna(v) else f"{v:.{digits}f}"


# ------------------------------------------------------------------ header / progress

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
        from paragrid.grid.spec import expand_trials, load_spec

        return None, len(expand_trials(load_spec(spec)).trials), ""
    except Exception as err:  # an optional count must never break the report
        return None, None, f"total trial count unknown ({str(err).splitlines()[0][:160]})"


def header(rundir: Path, results: pd.DataFrame, summary: pd.DataFrame, test: str, alpha: float,
           use_holm: bool, generated: str) -> str:
    names = sorted(results["spec_name"].astype(str).unique()) if "spec_name" in results else [rundir.name]
    hashes = sorted(results["spec_hash"].astype(str).unique()) if "spec_hash" in results else []
    trials = results["trial_id"].nunique() if "trial_id" in results else \
        len(results.drop_duplicates(["task", "target", "sources", "method", "budget", "repeat"]))
    done, total, progress_note = read_progress(rundir)
    pills = []
    if total:
        pills.append(f'<span class="pill{" warn" if (done or trials) < total else ""}">'
                     f"<b>{done if done is not None else trials}</b> of <b>{total}</b> trials done</span>")
    else:
        pills.append(f'<span class="pill"><b>{trials}</b> trials done</span>')
    pills.append(f'<span class="pill"><b>{len(results)}</b> fold results</span>')
    pills.append(f'<span class="pill"><b>{len(summary)}</b> cells</span>')
    max_rep, max_folds = summary["n_repeats"].max(), summary["folds_per_repeat_max"].max()
    uneven = summary[(summary["n_repeats"] < max_rep) | (summary["folds_per_repeat_min"] < max_folds)]
    pills.append(f'<span class="pill">up to <b>{max_rep}</b> repeats × <b>{max_folds}</b> folds</span>')
    if len(uneven):
        pills.append(f'<span class="pill warn"><b>{len(uneven)}</b> cell(s) incomplete '
                     "(grid still running?)</span>")
    if len(hashes) > 1:
        pills.append(f'<span class="pill warn">{len(hashes)} spec hashes mixed: {esc(", ".join(hashes))}</span>')
    for col in SETTINGS:
        if col in results and results[col].nunique(dropna=False) > 1:
            vals = ", ".join(map(str, sorted(results[col].astype(str).unique())))
            pills.append(f'<span class="pill warn">mixed {esc(col)}: {esc(vals)}</span>')
    settings = [f"{c} = {'none' if pd.isna(results[c].iloc[0]) else results[c].iloc[0]}" for c in SETTINGS
                if c in results and results[c].nunique(dropna=False) == 1]
    holm_txt = ", Holm-corrected within each table" if use_holm else ""
    meta = (f"spec {esc(', '.join(names))}" + (f" · hash {esc(', '.join(hashes))}" if hashes else "")
            + f" · generated {esc(generated)} · significance: {esc(test)} test, α = {alpha:g}{holm_txt}")
    out = [f'<header class="top"><h1>Transfer-learning report: {esc(", ".join(names))}</h1>'
           f'<div class="meta">{meta}</div><div class="pills">{"".join(pills)}</div>']
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


# ------------------------------------------------------------------ views

MARKERS_TXT = ("<b>*</b> significantly better than the DNN; <b>†</b> significantly better than both "
               "other methods (the DNN and the other transfer method on the same source set)")


def overview(t2: Table | None, summary: pd.DataFrame, marks, test: str, alpha: float) -> Section:
    sec = Section("overview", "Overview · Table 2",
                  "Experiment 1 (the paper's Table 2): emotion recognition on each target corpus "
                  "with a source task (speaker, gender, …) transferred by PT/FT or a progressive "
                  "network, against a DNN trained on the target alone. Cells: mean over repeats of "
                  "the per-repeat mean fold UAR ± mean over repeats of the per-repeat std (ddof = 1). "
                  f"{MARKERS_TXT}, by the {esc(TEST_LABEL[test])}, p &lt; {alpha:g}. "
                  "Under each cell: repeats × folds finished.")
    if t2 is None:
        sec.body.append(note_html("No paralinguistic-transfer rows in the results yet."))
    else:
        sec.body.append(table_html(t2))
        fig = plots.table2_bars(summary, table2_columns(summary), marks)
        if fig is not None:
            sec.body.append(figure_html(fig))
    cols = {"target": "target", "task": "task", "sources": "sources", "method": "method",
            "budget": "budget", "n_repeats": "repeats", "n_folds": "folds", "uar_mean": "UAR",
            "uar_std": "within-repeat std", "uar_std_of_repeat_means": "std of repeat means",
            "source_uar_before": "source UAR before", "source_uar_after": "after",
            "forgetting": "forgetting"}
    df = summary[list(cols)].rename(columns=cols)
    df["method"] = df["method"].map(method_label)
    num = {c: fmt_num for c in ["UAR", "within-repeat std", "std of repeat means",
                                "source UAR before", "after", "forgetting"]}
    sec.body.append("<details><summary>All cells (summary.csv)</summary>"
                    + frame_html(df, formats=num) + "</details>")
    return sec


def cross_corpus(cc: Table | None, summary: pd.DataFrame, sig: pd.DataFrame, test: str,
                 alpha: float) -> Section:
    sec = Section("crosscorpus", "Cross-corpus",
                  "Experiment 2 (the paper's Figure 4): the source model learned emotion on another "
                  "corpus (all of it); the target model saw only a fold budget of its training folds. "
                  f"Rows are the methods, columns the budgets per direction. {MARKERS_TXT}; "
                  f"{esc(TEST_LABEL[test])}, p &lt; {alpha:g}. In the chart, stars mark budgets where "
                  "a transfer method is significantly better than the DNN.")
    if cc is None:
        sec.body.append(note_html("No cross-corpus rows (sources <code>emotion@&lt;other corpus&gt;"
                                  "</code>) in the results."))
        return sec
    sec.body.append(table_html(cc))
    fig = plots.budget_curves(summary, sig, alpha)
    if fig is not None:
        sec.body.append(figure_html(fig))
    return sec


def learning_curves(curves: pd.DataFrame | None) -> Section:
    sec = Section("curves", "Learning curves",
                  "Test UAR against training epoch (the paper's Figure 3), averaged over every fold "
                  "of every repeat; the band is ± one standard deviation across those folds. Each "
                  "panel compares the transfer methods of one source set with the DNN at the same "
                  "fold budget. Folds stopped early drop out of later epochs (hover for the count).")
    figs = plots.learning_curves(curves)
    if curves is None:
        sec.body.append(note_html("No curves.parquet in the run folder; learning curves are optional."))
    elif not figs:
        sec.body.append(note_html("curves.parquet holds no rows yet."))
    for _, fig in figs:
        sec.body.append(figure_html(fig))
    return sec


def significance(sig: pd.DataFrame, test: str, alpha: float, use_holm: bool,
                 compare_paper: bool) -> Section:
    other = [t for t in ("calibrated", "corrected") if t != test]
    sec = Section("significance", "Significance",
                  "Every pair of methods compared on identical folds (same seed, same test fold; "
                  "rows are paired on repeat and fold). Δ = mean UAR difference A − B. "
                  f"<b>Default: {esc(TEST_LABEL[test])}</b>, two-sided, α = {alpha:g}"
                  + (", Holm-corrected within each table" if use_holm else "")
                  + f". Shown for comparison: the {esc(TEST_LABEL[other[0]])}, and the "
                  "<i>naive</i> paired t-test over all k·r folds, which ignores that the training "
                  "sets overlap and therefore overstates significance (never used for markers). "
                  "'n/a': fewer than two paired folds yet.")
    if sig.empty:
        sec.body.append(note_html("No comparisons: the results hold no transfer rows yet."))
        return sec
    rows = []
    for _, r in sig.iterrows():
        winner = method_label(r["method_a"] if r["mean_diff"] > 0 else r["method_b"])
        verdict = "n/a" if math.isnan(r["p_adj"]) else (
            f"{winner} better" if r["significant"] else "n.s.")
        row = {"target": r["target"], "budget": r["budget"], "sources": r["sources"],
               "A − B": f"{method_label(r['method_a'])} − {method_label(r['method_b'])}",
               "pairs": f"{r['n_pairs']} ({r['n_repeats']} rep)", "Δ UAR": r["mean_diff"],
               f"p {test} (default)": r[f"p_{test}"]}
        if use_holm:
            row["p Holm"] = r["p_adj"]
        for t in other:
            row[f"p {t}"] = r[f"p_{t}"]
        row["p naive (overstates)"] = r["p_naive"]
        if compare_paper:
            pp = paper_p(r["target"], r["sources"], r["method_a"], r["method_b"])
            row["paper p"] = float("nan") if pp is None else pp
        row["verdict"] = verdict
        rows.append(row)
    df = pd.DataFrame(rows)
    formats = {c: fmt_p for c in df.columns if c.startswith("p ") or c == "paper p"}
    formats["Δ UAR"] = lambda v: "n/a" if pd.isna(v) else f"{v:+.3f}"
    if compare_paper:
        formats["paper p"] = lambda v: "—" if pd.isna(v) else fmt_p(v)
    row_classes = ["sig" if v.endswith(" better") else "" for v in df["verdict"]]
    for table, title in (("table2", "Paralinguistic transfer"), ("crosscorpus", "Cross-corpus")):
        mask = (sig["table"] == table).to_numpy()
        if mask.any():
            sec.body.append(f"<h3>{title}</h3>")
            sec.body.append(frame_html(df[mask].reset_index(drop=True), formats=formats,
                                       row_classes=[c for c, m in zip(row_classes, mask) if m]))
    fig = plots.pvalue_dots(sig, alpha)
    if fig is not None:
        sec.body.append(figure_html(fig))
    return sec


def differences(sig: pd.DataFrame) -> Section:
    sec = Section("differences", "Paired differences",
                  "The per-fold UAR differences (A − B, one point per fold of every repeat) behind "
                  "each test: the mean of these points is Δ, their spread is what the t-tests "
                  "weigh. Points above the dashed line are folds where A scored higher.")
    figs = plots.paired_differences(sig)
    if not figs:
        sec.body.append(note_html("No paired folds yet."))
    for _, fig in figs:
        sec.body.append(figure_html(fig))
    return sec


def confusion(results: pd.DataFrame) -> Section:
    sec = Section("confusion", "Confusion",
                  "Confusion matrices of the test folds at the selected epoch, summed over all folds "
                  "and repeats of a cell, each row normalised to the recalls of that true class (the "
                  "diagonal's mean is the UAR of the pooled predictions). Shown at each target's full "
                  "fold budget.")
    figs, notes = plots.confusion_matrices(results)
    for n in notes:
        sec.body.append(note_html(esc(n)))
    if not figs:
        sec.body.append(note_html("No confusion matrices in the results."))
    for _, fig in figs:
        sec.body.append(figure_html(fig))
    return sec


def forgetting(summary: pd.DataFrame) -> Section:
    sec = Section("forgetting", "Forgetting",
                  "The forgetting effect, measured: source-task test UAR of the source model "
                  "(before) and of the transferred network under the source task's output head "
                  "(after). PT/FT fine-tunes the shared layers and loses the source task; a "
                  "progressive network freezes the source column, so before = after. "
                  "Forgetting = mean(before − after) over folds.")
    fig = plots.forgetting(summary)
    if fig is None:
        sec.body.append(note_html("No source-task UARs in the results (no transfer rows yet, or "
                                  "the grid does not record them)."))
        return sec
    sec.body.append(figure_html(fig))
    d = summary[summary["n_source_folds"] > 0]
    df = pd.DataFrame({"target": d["target"], "sources": d["sources"],
                       "method": d["method"].map(method_label), "budget": d["budget"],
                       "before": d["source_uar_before"], "after": d["source_uar_after"],
                       "forgetting": d["forgetting"], "folds": d["n_source_folds"]})
    sec.body.append("<details><summary>Every cell with source-task UARs (all budgets)</summary>"
                    + frame_html(df.reset_index(drop=True),
                                 formats={c: fmt_num for c in ["before", "after", "forgetting"]})
                    + "</details>")
    return sec


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
        sec.body.append(figure_html(plots.tuning_history(trials)))
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
        sec.body.append(figure_html(plots.importance_bars(importances)))
    for n in notes:
        sec.body.append(note_html(f"Parameter importance: {esc(n)}"))
    return sec


def study_importances(tune_dir: Path) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Optuna's importances per stored study: RUNDIR/tune/<corpus>/optuna.db (what `paragrid
    tune` writes) or RUNDIR/tune/*.db. Returns {study label: importances} and notes on skips."""
    dbs = sorted(tune_dir.glob("*/optuna.db")) + sorted(tune_dir.glob("*.db"))
    if not dbs:
        return {}, ["skipped: no Optuna study stored in RUNDIR/tune/ (only trials.csv)."]
    import optuna

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
