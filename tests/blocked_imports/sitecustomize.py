"""Put on PYTHONPATH, this makes the packages a stock PyTorch GPU image lacks unimportable
(tests/test_bench_gpu.py runs bench/gpu.py under it, so the GPU check cannot grow a dependency
on them). PARAGRID_BLOCK_IMPORTS overrides the comma-separated list."""
import os
import sys

BLOCKED = tuple(n for n in os.environ.get("PARAGRID_BLOCK_IMPORTS", "ray,opensmile,optuna,plotly,mlflow").split(",") if n)


class _Blocker:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked here (a stock PyTorch image has no {name.split('.')[0]})")
        return None


sys.meta_path.insert(0, _Blocker())
