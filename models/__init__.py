"""models stage of paragrid: the paper's networks and their fold-vectorised training.

config    Architecture, TrainSettings (Table 1 defaults)
metrics   UAR and confusion matrices (numpy, and stacked torch for F folds at once)
columns   stacked-layer building blocks, per-fold seeds and dropout randomness
nets      StackedModel (save/load/select) and the dnn / ptft / prognet forward pass
optim     Adam / SGD over stacked weights with per-fold step counts
data      FoldData and its checks
evaluate  predict, evaluate, source_task_uar (forgetting)
train     train_folds (all folds at once) and train_folds_reference (one at a time)
See docs/FORMATS.md for what flows in and out.
"""
