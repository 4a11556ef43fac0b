"""models stage of paragrid: the paper's networks and their fold-vectorised training.

config     Architecture (incl. init), TrainSettings (incl. updates); Table 1 defaults
metrics    UAR and confusion matrices (numpy, and stacked torch for F folds at once)
columns    stacked-layer building blocks, per-fold and per-role seeds, initialisations, dropout bits
streams    the training randomness of F fold-models: per-fold generators or a counter-based hash
nets       StackedModel (save/load/select) and the dnn / ptft / prognet forward pass
optim      Adam / SGD over stacked weights with per-fold step counts (public torch APIs only)
data       FoldData and its checks
active     the state of the fold-models still training, and each epoch's batches
train      train_folds: F fold-models (the folds of a trial, or a pack of trials) as one model
outcome    FoldOutcome (and .select to split a pack per trial)
pack       stack_data / stack_models / unstack: several trials on one fold axis
reference  train_folds_reference: the one-fold-at-a-time loop the stacked trainer is tested against
evaluate   predict, evaluate, source_task_uar (forgetting through the source head)
probe      source_probe_uar (forgetting through a re-fitted linear probe)
See docs/FORMATS.md for what flows in and out.
"""
