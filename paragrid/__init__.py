"""paragrid: experiment grids for transfer learning in computational paralinguistics.

Data flows one way: corpus -> features parquet -> grid spec -> trials -> results parquet ->
analysis. Each arrow is a file format documented in docs/FORMATS.md.

The Python API (paragrid.api): `load_spec`, `run`, `open_run`; a run's `results()`,
`summary()`, `significance()` and `figures()` are pandas DataFrames and Plotly figures.
`import paragrid` loads neither torch nor Ray: the API imports each stage when it is called.
"""

from paragrid.api import RunResults, load_spec, open_run, run

__version__ = "0.1.0"

__all__ = ["load_spec", "run", "open_run", "RunResults", "__version__"]
