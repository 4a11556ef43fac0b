"""Fold schemes and fold designs: which significance tests a cell's folds allow.

Repeated k-fold CV (`speaker-stratified`, `speaker-independent`) gives k·r fold scores whose
training sets overlap; the calibrated (Bouckaert) and corrected (Nadeau-Bengio) tests are built
for that design, and the calibrated test's df = 10 was calibrated for 10 repeats of 10 folds
only. Leave-one-speaker-out and leave-one-session-out have one repeat and one test speaker (or
session) per fold: a comparison pairs speakers, there is no repeat to average over, and the
repeated-CV tests do not apply; a paired test over the n speakers (or sessions) does.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

UNIT_SCHEMES = {"leave-one-speaker-out": "speaker", "leave-one-session-out": "session"}
SCHEME_SHORT = {"leave-one-speaker-out": "LOSO", "leave-one-session-out": "LOSessO"}
SCHEME_UNKNOWN = "not recorded"   # results written before `fold_scheme` was a column: k-fold
PAPER_DESIGN = (10, 10)           # k folds x r repeats the calibrated test's df = 10 is for


def unit_of(scheme: str) -> str | None:
    """'speaker' / 'session' for a leave-one-out scheme, None for repeated k-fold CV."""
    return UNIT_SCHEMES.get(scheme)


@dataclass(frozen=True)
class Design:
    """How a cell's folds were made: the scheme, k folds per repeat and r repeats."""

    scheme: str
    k: int
    repeats: int

    @property
    def unit(self) -> str | None:
        return unit_of(self.scheme)

    def label(self) -> str:
        if self.unit:
            return f"{SCHEME_SHORT[self.scheme]}, {self.k} {self.unit}s"
        return f"{self.k} folds × {self.repeats} repeats"

    def calibrated_applies(self) -> bool:
        """Bouckaert's df = 10 is calibrated for 10 x 10 repeated CV only."""
        return self.unit is None and (self.k, self.repeats) == PAPER_DESIGN


def design_of(rows: pd.DataFrame) -> Design:
    """The design of one cell's rows. k comes from the `k` column the grid writes (a partial run
    has not yet every fold), else from the folds present; r counts the distinct repeats."""
    scheme = SCHEME_UNKNOWN
    if "fold_scheme" in rows and rows["fold_scheme"].notna().any():
        schemes = sorted(rows["fold_scheme"].dropna().astype(str).unique())
        scheme = schemes[0] if len(schemes) == 1 else "+".join(schemes)
    if "k" in rows and rows["k"].notna().any():
        k = int(pd.to_numeric(rows["k"], errors="coerce").max())
    else:
        k = int(rows["fold"].nunique())
    return Design(scheme, k, int(rows["repeat"].nunique()))


def design_note(designs: list[Design], test: str) -> str | None:
    """The sentence beside a table whose cells are not 10 x 10 repeated CV, or None."""
    kfold = sorted({d.label() for d in designs if d.unit is None and not d.calibrated_applies()})
    units = sorted({d.label() for d in designs if d.unit is not None})
    parts = []
    if kfold:
        used = "drives the markers" if test == "calibrated" else "is shown for comparison"
        parts.append(
            f"Fold design {', '.join(kfold)} (not 10 folds × 10 repeats): the calibrated test's "
            f"df = 10 was calibrated for 10 repeats of 10-fold CV and does not strictly apply "
            f"here (it {used}); the corrected test's df = k·r − 1 follows the design.")
    if units:
        parts.append(
            f"Leave-one-out cells ({', '.join(units)}): one repeat, one test speaker or session "
            "per fold, so comparisons pair speakers (sessions) and the repeated-CV tests "
            "(calibrated, corrected) do not apply; markers use a paired test over the speakers "
            "(sessions) instead.")
    return " ".join(parts) or None


def marker_test(test: str, design: "Design") -> str:
    """The k-fold test behind a cell's markers: `test`, or for "auto" (the default) the
    calibrated test on the 10 x 10 design it was calibrated for and the corrected test
    (df = k·r − 1, which follows the design) on any other."""
    if test != "auto":
        return test
    return "calibrated" if design.calibrated_applies() else "corrected"


def table_test(test: str, designs: list["Design"]) -> str:
    """The one k-fold marker test of a table's cells ("auto" when its designs need both)."""
    used = {marker_test(test, d) for d in designs if d.unit is None}
    return used.pop() if len(used) == 1 else test
