"""The grid spec: the YAML a user writes, checked key by key and resolved into a typed `Spec`,
and the target trials it expands to.

Everything a user can mistype is refused here with one line naming the file and the fix, before
any corpus is read or Ray starts. The `tune:` block's search space is part of the spec, so it is
validated here too (`parse_tune_block`), and `--architecture` files (`apply_architectures`) are
applied per target with their origin recorded.

Exports: load_spec, read_spec, validate, builtin_names; fold_lists (which files of a published
split's folder are fold lists); Spec, Experiment, Resources,
TargetSettings, Trial;
expand_trials, expand_set, pooled, Expansion, resolve_source, parse_source; the feature-set axis (corpus_key,
parse_features: a corpus as one feature set gives it, 'wavlm@L6' -> ('wavlm', 'L6')); the tune block (TuneSettings, Param,
parse_tune_block, optuna_distributions, baseline_point and the key lists); the vocabulary
(FOLD_SCHEMES, LEAVE_ONE_OUT, TOP_KEYS; the allowed methods, activations, ... are
paragrid.models.config's) and NUMBERS_VERSION.
"""

from paragrid.grid.spec._expand import Expansion, expand_set, expand_trials, pooled, resolve_source
from paragrid.grid.spec._load import builtin_names, load_spec, read_spec
from paragrid.grid.spec._loo import fold_lists
from paragrid.grid.spec._model import (FOLD_SCHEMES, LEAVE_ONE_OUT, NUMBERS_VERSION, SPECIAL_CORPORA, TOP_KEYS,
                                       Experiment,
                                       Resources, Spec, TargetSettings, Trial, corpus_key, parse_features,
                                       parse_source)
from paragrid.grid.spec._overrides import apply_architectures
from paragrid.grid.spec._search_space import (ARCHITECTURE_KEYS, SPACE_KEYS, TRAINING_KEYS, Param,
                                              TuneSettings, baseline_point, optuna_distributions,
                                              parse_tune_block)
from paragrid.grid.spec._validate import validate

__all__ = [
    "fold_lists", "Expansion", "expand_set", "expand_trials", "pooled", "resolve_source", "builtin_names", "load_spec", "read_spec",
    "Experiment", "Resources", "FOLD_SCHEMES", "LEAVE_ONE_OUT", "NUMBERS_VERSION", "SPECIAL_CORPORA", "Spec",
    "TOP_KEYS", "TargetSettings", "Trial", "corpus_key", "parse_features", "parse_source", "apply_architectures",
    "ARCHITECTURE_KEYS", "Param", "SPACE_KEYS", "TRAINING_KEYS", "TuneSettings",
    "baseline_point", "optuna_distributions", "parse_tune_block", "validate"
]
