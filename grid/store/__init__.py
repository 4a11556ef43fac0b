"""Where runs live: a local folder or any pyarrow filesystem, the files of each unit written
atomically, the run lock, the shared source models, and the rows of the results tables.

Exports: Storage, RunDir, run_dir_for, folder_hash, remove_report, RunLock, under_trained,
under_trained_line, UnderTrained (cap_bound, epoch_caps, CAP_FRACTION: what a cap-bound fold is),
STALE_AFTER_S, ModelStore; the table schema (ResultRow,
NestedResultRow, CurveRow, frame, typed, columns, dtypes, RESULT_COLUMNS, CURVE_COLUMNS,
CORE_RESULT_COLUMNS, CORE_CURVE_COLUMNS; docs/FORMATS.md sections 4 and 5).
"""

from paragrid.grid.store._folder import folder_hash, remove_report, run_dir_for
from paragrid.grid.store._lock import STALE_AFTER_S, RunLock
from paragrid.grid.store._models import ModelStore
from paragrid.grid.store._schema import (CORE_CURVE_COLUMNS, CORE_RESULT_COLUMNS, CURVE_COLUMNS,
                                         RESULT_COLUMNS, CurveRow, NestedResultRow, ResultRow, columns,
                                         dtypes, frame, typed)
from paragrid.grid.store._storage import RunDir, Storage
from paragrid.grid.store._training import (CAP_FRACTION, UnderTrained, cap_bound, epoch_caps, under_trained,
                                           under_trained_line)

__all__ = [
    "RunLock", "STALE_AFTER_S", "ModelStore", "ResultRow", "NestedResultRow", "CurveRow", "frame", "typed",
    "columns", "dtypes", "RESULT_COLUMNS", "CURVE_COLUMNS", "CORE_RESULT_COLUMNS", "CORE_CURVE_COLUMNS",
    "RunDir", "Storage", "run_dir_for", "folder_hash", "remove_report", "UnderTrained", "under_trained",
    "under_trained_line", "CAP_FRACTION", "cap_bound", "epoch_caps",
]
