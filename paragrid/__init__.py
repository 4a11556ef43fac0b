"""paragrid: experiment grids for transfer learning in computational paralinguistics.

Data flows one way: corpus -> features parquet -> grid spec -> trials -> results parquet ->
analysis. Each arrow is a file format documented in docs/FORMATS.md.

The Python API (paragrid.api, re-exported here): `load_spec`, `run`, `open_run`; a run's
`results()`, `summary()`, `significance()` and `figures()` are pandas DataFrames and Plotly
figures. Imports are lazy: `import paragrid` loads neither torch nor Ray.
"""

__version__ = "0.1.0"

__all__ = ["load_spec", "run", "open_run", "__version__"]


def __getattr__(name: str):
    if name in ("load_spec", "run", "open_run", "RunResults"):
        from paragrid import api

        return getattr(api, name)
    raise AttributeError(f"module 'paragrid' has no attribute {name!r}")
