"""Number formats shared by tables, hover texts and the dashboard."""

from __future__ import annotations

import math

import pandas as pd


def fmt_p(p) -> str:
    """p-values: three decimals, or one significant digit and an exponent below 0.001."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def fmt_num(v, digits: int = 3) -> str:
    return "n/a" if v is None or pd.isna(v) else f"{v:.{digits}f}"


def fmt_measured(v, measured: bool, digits: int = 3) -> str:
    """A number that older results may not have measured at all (not the same as n/a)."""
    return "not measured" if not measured else fmt_num(v, digits)
