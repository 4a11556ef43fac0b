"""paragrid: experiment grids for transfer learning in computational paralinguistics.

Data flows one way: corpus -> features parquet -> grid spec -> trials -> results parquet ->
analysis. Each arrow is a file format documented in docs/FORMATS.md.
"""

__version__ = "0.1.0"
