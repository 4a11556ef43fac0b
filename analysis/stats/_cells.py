"""Names and order of the cells every table and plot shares.

A *cell* is one (task, target, sources, method, budget, architecture origin, feature set): all
folds of all repeats of one trial configuration. The feature set (`feature_set`, the spec's
feature-set axis, e.g. egemaps vs wavlm@L6) is a coordinate like the method: feature sets are
compared on the same folds, never pooled. The architecture's origin is part of the cell because a
spec architecture, one tuned on the test corpus itself (optimistic: it has seen the test folds)
and one tuned leakage-free are different experiments: pooling their folds would average an
optimistic number into an honest one. Keeping the labels and the row order here means Table 2,
the cross-corpus table and every figure call the same thing by the same name and list it in the
same order. `Cell` is one cell as a value (the key of markers, flags and hover texts) and
`cell_kind` says which table a cell belongs to; significance, flags and summary all build on
them, so they live here, below those three.
"""

from __future__ import annotations

from dataclasses import dataclass

CELL = ["task", "target", "sources", "method", "budget", "architecture_origin", "feature_set"]
METHOD_ORDER = ["dnn", "ptft", "prognet"]
METHOD_LABEL = {"dnn": "DNN", "ptft": "PT/FT", "prognet": "ProgNet"}
# The paper's source sets first, in the paper's order; anything else follows alphabetically.
SOURCE_ORDER = ["none", "speaker", "gender"]


# Where the architecture came from (docs/FORMATS.md section 4, `architecture_origin`).
ORIGIN_UNKNOWN = "not recorded"   # results written before the column existed
ORIGIN_ORDER = ["spec", "tuned-nested", "tuned-nested-corpus-norm", "tuned-same-corpus"]
# Nested tuning under `normalisation: corpus`: each inner search's features were scaled with
# statistics over every utterance, test folds included, so it is not leakage-free.
NESTED_CORPUS_NORM = "tuned-nested-corpus-norm"
ORIGIN_LABEL = {"spec": "spec architecture",
                "tuned-nested": "tuned-nested (leakage-free)",
                "tuned-same-corpus": "tuned-same-corpus (optimistic)",
                NESTED_CORPUS_NORM: "tuned-nested under corpus normalisation (not leakage-free)",
                ORIGIN_UNKNOWN: "architecture origin not recorded"}
ORIGIN_EXPLAIN = {
    "spec": "the architecture as written in the spec (e.g. the paper's Table 1)",
    "tuned-nested": "tuned per outer step on that step's training and validation folds only "
                    "(no test utterance seen)",
    NESTED_CORPUS_NORM: "tuned per outer step, but with features z-normalised over every utterance "
                        "(normalisation: corpus), test folds included: leakage-free only with "
                        "normalisation: train",
    "tuned-same-corpus": "tuned on the same corpus it is tested on: the search saw utterances "
                         "that are test folds here, so the numbers are optimistic (like the "
                         "paper's own hand choice)",
    ORIGIN_UNKNOWN: "results written before paragrid recorded the architecture's origin",
}


@dataclass(frozen=True)
class Cell:
    task: str
    target: str
    sources: str
    method: str
    budget: int
    origin: str
    feature_set: str = ""  # '' for results written before the column existed

    def label(self) -> str:
        return f"{self.method}/{self.sources}" + (f" [{self.feature_set}]" if self.feature_set else "")


def cell_of(row) -> Cell:
    """The Cell of a summary / results row (a pandas row or a dict with the CELL columns)."""
    return Cell(str(row["task"]), str(row["target"]), str(row["sources"]), str(row["method"]),
                int(row["budget"]), str(row["architecture_origin"]), str(row.get("feature_set", "") or ""))


def comparison_cells(r) -> tuple[Cell, Cell]:
    """(A, B) cells of one row of the significance table."""
    fs = str(r.get("feature_set", "") or "")
    a = Cell(r["task"], r["target"], r["sources_a"], r["method_a"], int(r["budget"]),
             r["architecture_origin"], str(r.get("feature_set_a", fs) or ""))
    b = Cell(r["task"], r["target"], r["sources_b"], r["method_b"], int(r["budget"]),
             r["architecture_origin"], str(r.get("feature_set_b", fs) or ""))
    return a, b


def origin_label(origin: str) -> str:
    if origin.startswith("tuned-on:"):
        return f"tuned on {origin.partition(':')[2]} (leakage-free)"
    return ORIGIN_LABEL.get(origin, origin)


def origin_explain(origin: str) -> str:
    if origin.startswith("tuned-on:"):
        return (f"tuned on another corpus ({origin.partition(':')[2]}): leakage-free by "
                "construction")
    return ORIGIN_EXPLAIN.get(origin, origin)


def origin_rank(origin: str) -> tuple[int, str]:
    return (ORIGIN_ORDER.index(origin), "") if origin in ORIGIN_ORDER else (len(ORIGIN_ORDER), origin)


def method_label(method: str) -> str:
    return METHOD_LABEL.get(method, method)


def method_rank(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method), "") if method in METHOD_ORDER else (len(METHOD_ORDER), method)


def source_rank(sources: str) -> tuple[int, str]:
    return (SOURCE_ORDER.index(sources), "") if sources in SOURCE_ORDER else (len(SOURCE_ORDER), sources)


def sources_key(sources: str, target: str, task: str) -> tuple:
    """Sort key of a source set: paper's sets first, other sets, cross-corpus sources last."""
    return (cross_corpus_source(sources, target, task) is not None, source_rank(sources))


def cross_corpus_source(sources: str, target: str, task: str) -> str | None:
    """The source corpus when `sources` is one `<task>@<other corpus>` source, else None.

    Only a single source of the *same* task on *another* corpus is cross-corpus transfer in the
    paper's sense (Experiment 2); `speaker+emotion@b` is a mixed source set and stays in Table 2.
    """
    if "+" in sources or "@" not in sources:
        return None
    src_task, _, corpus = sources.partition("@")
    if corpus == target or (task and src_task != task):
        return None
    return corpus


def cell_kind(sources: str, target: str, task: str, method: str) -> str:
    """'baseline' (no source), 'crosscorpus' (Experiment 2) or 'transfer' (Table 2 rows)."""
    if sources == "none" or method == "dnn":
        return "baseline"
    return "crosscorpus" if cross_corpus_source(sources, target, task) else "transfer"


def direction_label(source_corpus: str, target: str) -> str:
    return f"{source_corpus} → {target}"
