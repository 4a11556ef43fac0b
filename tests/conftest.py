"""Suite-wide settings: quiet, deterministic, small.

Ray and torch read these at import; setting them here keeps every test's console output short
and keeps CPU tests single-threaded enough that two pytest workers fit on a 2-core CI machine.
"""

import logging
import os

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("PYTHONHASHSEED", "0")


@pytest.fixture(scope="module")
def local_ray():
    """A 2-CPU Ray instance in this process for one test module (starting Ray costs seconds, so
    a module's tests share it); quiet, no dashboard."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()
