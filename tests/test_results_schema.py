"""One schema for the results and curves tables: the writer's rows, the merger's dtypes and the
reader's required columns all come from paragrid.grid.store, and docs/FORMATS.md documents
exactly those columns."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from paragrid.grid.store import (CORE_CURVE_COLUMNS, CORE_RESULT_COLUMNS, CURVE_COLUMNS, RESULT_COLUMNS,
                                 CurveRow, NestedResultRow, ResultRow, columns, frame, typed)

FORMATS = Path(__file__).resolve().parents[1] / "docs" / "FORMATS.md"


def _section(number: int) -> str:
    text = FORMATS.read_text()
    start = text.index(f"\n## {number}.")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _table_columns(block: str) -> list[str]:
    """The backticked names in the first cell of each row of the first table in `block`."""
    rows = [line for line in block.splitlines() if line.startswith("| `")]
    names = []
    for line in rows:
        names += re.findall(r"`([a-z_]+)`", line.split("|")[1])
    return names


def test_formats_section_4_documents_exactly_the_result_row():
    block = _section(4)
    grid_table = block[: block.index("tune_trial")]
    documented = _table_columns(grid_table)
    assert sorted(documented) == sorted(RESULT_COLUMNS)
    nested = _table_columns(block[block.index("Nested tuning's"): block.index("While a grid runs")])
    assert nested == columns(NestedResultRow)[len(RESULT_COLUMNS):]


def test_formats_section_5_lists_the_curve_row_in_order():
    sentence = _section(5).split("\n\n")[1]
    assert re.findall(r"`([a-z_]+)`", sentence)[: len(CURVE_COLUMNS)] == CURVE_COLUMNS


def test_core_columns_are_part_of_the_rows():
    assert set(CORE_RESULT_COLUMNS) <= set(RESULT_COLUMNS)
    assert set(CORE_CURVE_COLUMNS) <= set(columns(CurveRow))


def _row(**changes) -> dict:
    row = {name: 0 for name in RESULT_COLUMNS}
    row.update({c: "x" for c in ("spec_name", "trial_id", "method", "sources", "target", "node", "rng",
                                "feature_set")})
    return {**row, **changes}


def test_a_row_with_a_missing_or_misspelt_field_fails_where_it_is_built():
    good = _row()
    ResultRow(**good)
    with pytest.raises(TypeError):
        ResultRow(**{k: v for k, v in good.items() if k != "val_fold"})
    with pytest.raises(TypeError):
        ResultRow(**good, pateince=3)


def test_frame_types_nullable_columns_from_the_field_types():
    rows = [ResultRow(**_row(patience=None, test_unit=None, source_uar_before=None)),
            ResultRow(**_row(patience=20, test_unit="spk1", source_uar_before=0.5))]
    df = frame(rows, ResultRow)
    assert list(df.columns) == RESULT_COLUMNS
    assert str(df["patience"].dtype) == "Int64" and df["patience"].isna().tolist() == [True, False]
    assert str(df["test_unit"].dtype) == "string" and str(df["source_uar_before"].dtype) == "float64"
    assert str(df["budget"].dtype) == "int64" and pd.api.types.is_string_dtype(df["trial_id"])


def test_typed_restores_dtypes_that_merged_parts_lost():
    # two parts: one where a nullable column is all null (object), one where it holds a value
    a = frame([ResultRow(**_row(architecture_file=None))], ResultRow).astype({"architecture_file": object})
    b = frame([ResultRow(**_row(architecture_file="best.yaml"))], ResultRow)
    merged = typed(pd.concat([a, b], ignore_index=True), ResultRow)
    assert str(merged["architecture_file"].dtype) == "string"
    assert merged["architecture_file"].isna().tolist() == [True, False]
