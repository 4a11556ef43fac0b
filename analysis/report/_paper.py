"""The paper's own numbers (Gideon et al., Interspeech 2017), for `paragrid report --compare paper`.

Transcribed from docs/PROTOCOL.md (Table 2, the reported p-values and the Figure 4
findings). Corpus names are paragrid's corpus names; any other corpus has no paper value.
"""

from __future__ import annotations

CORPUS_LABEL = {"iemocap": "IEMOCAP", "msp-improv": "MSP-IMPROV"}
FULL_BUDGET = 8  # 10 folds: 8 training folds

# (sources, method) -> corpus -> (mean UAR, mean within-repeat std, markers)
TABLE2: dict[tuple[str, str], dict[str, tuple[float, float, str]]] = {
    ("none", "dnn"): {"iemocap": (0.640, 0.017, ""), "msp-improv": (0.584, 0.022, "")},
    ("speaker", "ptft"): {"iemocap": (0.645, 0.017, ""), "msp-improv": (0.592, 0.018, "")},
    ("speaker", "prognet"): {"iemocap": (0.657, 0.018, "*†"), "msp-improv": (0.605, 0.021, "*†")},
    ("gender", "ptft"): {"iemocap": (0.640, 0.016, ""), "msp-improv": (0.586, 0.021, "")},
    ("gender", "prognet"): {"iemocap": (0.642, 0.018, ""), "msp-improv": (0.593, 0.022, "*")},
}

# (target, sources, method_a, method_b) -> reported p-value of A vs B at the full budget.
P_VALUES: dict[tuple[str, str, str, str], float] = {
    ("iemocap", "speaker", "prognet", "dnn"): 2.6e-3,
    ("msp-improv", "speaker", "prognet", "dnn"): 8.8e-4,
    ("iemocap", "speaker", "prognet", "ptft"): 2.0e-2,
    ("msp-improv", "speaker", "prognet", "ptft"): 1.2e-2,
    ("msp-improv", "gender", "prognet", "dnn"): 1.2e-2,
}

# Figure 4: (source corpus, target corpus, method) -> budgets where it beat the DNN significantly.
# The paper reports no numbers for Figure 4, only these findings; budgets 1, 2, 4, 8 were run.
CROSS_BUDGETS = (1, 2, 4, 8)
CROSS_SIGNIFICANT: dict[tuple[str, str, str], set[int]] = {
    ("msp-improv", "iemocap", "prognet"): {1, 2, 4},
    ("iemocap", "msp-improv", "prognet"): {1, 2, 8},
    ("msp-improv", "iemocap", "ptft"): {1, 2},
    ("iemocap", "msp-improv", "ptft"): set(),
}

def paper_cell(sources: str, method: str, target: str) -> str:
    """The paper's Table 2 cell as text, or '—' where the paper has none."""
    value = TABLE2.get((sources, method), {}).get(target)
    if value is None:
        return "—"
    mean, std, mark = value
    return f"{mean:.3f} ± {std:.3f}{(' ' + mark) if mark else ''}"


def paper_p(target: str, sources: str, method_a: str, method_b: str) -> float | None:
    return P_VALUES.get((target, sources, method_a, method_b))


def paper_cross(source_corpus: str, target: str, method: str, budget: int) -> str:
    """'*' where the paper found the method significantly better than the DNN, 'n.s.' where it
    ran the setting and did not, '—' where the paper has no such setting."""
    key = (source_corpus, target, method)
    if key not in CROSS_SIGNIFICANT or budget not in CROSS_BUDGETS:
        return "—"
    return "*" if budget in CROSS_SIGNIFICANT[key] else "n.s."


PAPER_CORPORA = tuple(CORPUS_LABEL)


def has_paper_figures(target: str) -> bool:
    """Whether the paper published Table 2 numbers for this corpus (only IEMOCAP, MSP-IMPROV)."""
    return target in PAPER_CORPORA


def has_paper_direction(source_corpus: str, target: str) -> bool:
    """Whether the paper's Figure 4 covers this cross-corpus direction."""
    return any(k[0] == source_corpus and k[1] == target for k in CROSS_SIGNIFICANT)


def no_paper_note(names: list[str]) -> str:
    return (f"no published figures for {', '.join(names)} (the paper used only IEMOCAP and "
            "MSP-IMPROV)")
