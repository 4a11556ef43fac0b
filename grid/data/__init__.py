"""Corpora as the trials see them: features and labels loaded once, fold splits, the steps of
each repeat, z-normalisation, and the checks that a corpus can support a spec.

This is where leakage is prevented: a step's test fold never reaches training, normalisation
or early stopping (docs/PROTOCOL.md), and `validate_corpora` finds a split that lacks a class
before anything trains.

Exports: Corpus, load_corpora (read_corpora plus the spec's classes and pooled corpora,
ClassesWarning, pooled_name), classes_of, encode, fold_of, steps_for; the fold makers
(speaker_stratified_folds, speaker_independent_folds, unit_folds, fold_steps, leave_one_out_steps,
choose_val_folds, repeat_seed, FoldSteps); zscore; validate_corpora, FoldWarning.
"""

from paragrid.grid.data._checks import FoldWarning, validate_corpora
from paragrid.grid.data._corpus import Corpus, classes_of, encode, fold_of, read_corpora, steps_for
from paragrid.grid.data._folds import (FoldSteps, choose_val_folds, fold_steps, leave_one_out_steps,
                                       repeat_seed, speaker_independent_folds, speaker_stratified_folds,
                                       unit_folds)
from paragrid.grid.data._many import ClassesWarning, load_corpora, pooled_name
from paragrid.grid.data._normalise import zscore

__all__ = [
    "ClassesWarning", "pooled_name", "read_corpora", "FoldWarning", "validate_corpora", "Corpus", "classes_of", "encode", "fold_of",
    "load_corpora", "steps_for", "FoldSteps", "choose_val_folds", "fold_steps",
    "leave_one_out_steps", "repeat_seed", "speaker_independent_folds",
    "speaker_stratified_folds", "unit_folds", "zscore"
]
