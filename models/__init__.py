"""models stage of paragrid: the paper's networks and their fold-vectorised training.

Every module's public API, by job (importing this package imports no torch; neither do
config and options, which a spec check uses):

config     Architecture (incl. init), TrainSettings (incl. updates); Table 1 defaults; the allowed
           names ACTIVATIONS, OPTIMIZERS, METHODS, INITS, UPDATES; dropout_levels (torch-free)
options    Pack (seed, seeds, fold_ids, class_names) and Run (device, rng, vectorised_adam, on_batch,
           epoch_callback): the option groups of a training call (torch-free)
metrics    uar, confusion, uar_from_confusion (numpy); uar_stacked for F folds at once (torch)
columns    stacked-layer building blocks: linear, init_weight / init_bias, generator, fold_seed,
           role_seed, draw_bits / keep_from_bits (dropout)
streams    make_streams: the training randomness of F fold-models (per-fold generators or a hash)
nets       StackedModel (save/load/select), build_model, forward / hidden_states: dnn, ptft, prognet
optim      StackedOptimizer: Adam / SGD over stacked weights with per-fold step counts
data       FoldData, prepare, resolve_device; upload / padded_rows / gather (host -> device)
active     ActiveFolds (the training state of the fold-models still training), SourceCache
train      train_folds(data, arch, settings, method, sources, pack=Pack(), run=Run()), epoch_caps
outcome    FoldOutcome (and .select to split a pack per trial), CURVE_COLUMNS
pack       stack_data / stack_models / unstack: several trials on one fold axis
reference  train_folds_reference: the one-fold-at-a-time loop the stacked trainer is tested against
evaluate   predict, evaluate, source_task_uar (forgetting through the source head)
probe      source_probe_uar (forgetting through a re-fitted linear probe)
See docs/FORMATS.md for what flows in and out.
"""
