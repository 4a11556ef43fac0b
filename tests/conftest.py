"""Suite-wide settings: quiet, deterministic, small.

Ray and torch read these at import; setting them here keeps every test's console output short
and keeps CPU tests single-threaded enough that two pytest workers fit on a 2-core CI machine.
"""

import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("PYTHONHASHSEED", "0")
