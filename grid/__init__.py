"""grid stage of paragrid: from a spec and its feature parquets to the results of every trial,
on Ray Tune (docs/FORMATS.md sections 3-6 for the files in and out).

Subpackages, in the order data and imports flow (each imports only ones above it):
  paragrid.grid.spec     the YAML spec -> a typed Spec (architecture, training and resources
                         per target), the trials it expands to, the `tune:` block
  paragrid.grid.data     corpora as the trials see them: folds, steps, z-normalisation, and
                         the checks that a corpus can support the spec
  paragrid.grid.plan     the source models and units of work (packs) a grid needs, their cost,
                         and what a resumed run has already finished
  paragrid.grid.store    where runs live: storage, run lock, source models, the results rows
  paragrid.grid.console  what a person sees: status line, ETA, durations, the Ray session
  paragrid.grid.work     what one unit computes, free of Ray (execute_unit, the device it
                         trains on): what a Ray worker runs and bench/gpu.py runs without Ray
  paragrid.grid.run      `paragrid run`: the trainable (a thin wrapper of work), a searcher
                         over the units, a Tuner
  paragrid.grid.tune     `paragrid tune`: Optuna studies in Ray Tune, same-corpus and nested
  specs/                 the built-in specs (demo, paper-table2, paper-crosscorpus, scale-probe)

Import public names from the subpackages; this package itself exports nothing (importing it
must stay free of Ray and torch).
"""
