"""The trainers: fold-vectorised == one-fold reference, and the pitfalls of PROTOCOL.md."""

import logging
import math
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from models_helpers import (NO_STRAY_CHANCE_WARNINGS, TINY, TINY_DROP, assert_same_outcome,  # noqa: F401
                            blobs, chance_folds, fast, one_thread, relabel)

from paragrid.errors import UserError
from paragrid.models.config import Architecture, TrainSettings
from paragrid.models.nets import StackedModel, build_model, forward
from paragrid.models.optim import StackedOptimizer
from paragrid.models.reference import train_folds_reference
from paragrid.models.train import train_folds
from paragrid.models.data import FoldData
from paragrid.models.evaluate import SingleClassWarning, evaluate, predict, source_task_uar
from paragrid.models.options import Pack, Run

pytestmark = NO_STRAY_CHANCE_WARNINGS

TRAINERS = [train_folds, train_folds_reference]


def source_labels(data: FoldData) -> np.ndarray:
    """A second, learnable task on the same utterances (4 classes), standing in for speaker/gender."""
    x = np.asarray(data.x)
    x = x if x.ndim == 2 else x[0]
    return (x[:, 3] > 0).astype(np.int64) * 2 + (x[:, 4] > 0)


@pytest.fixture(scope="module")
def sources():
    torch.set_num_threads(1)
    data = blobs()
    src_data = relabel(data, source_labels(data), 4)
    with chance_folds():
        a = train_folds(src_data, TINY_DROP, fast(max_epochs=8), pack=Pack(seed=11))
        b = train_folds(src_data, Architecture(layers=3, width=12, activation="tanh", dropout=0.5),
                        fast(max_epochs=8), pack=Pack(seed=12))
    return data, src_data, a, b


@pytest.mark.parametrize("case", ["dnn", "dnn-dropout", "dnn-sgd-relu-wd", "ptft", "prognet-2-sources",
                                  "prognet-patience-per-fold-x", "dnn-dropout-hash-rng", "ptft-masked-adam-wd"])
def test_vectorised_equals_reference(case, sources):
    data, _, src_a, src_b = sources
    arch, settings, method, srcs, rng = TINY, fast(), "dnn", [], "auto"
    if case == "dnn-dropout":
        arch = TINY_DROP
    elif case == "dnn-dropout-hash-rng":
        arch, rng = TINY_DROP, "hash"
    elif case == "ptft-masked-adam-wd":
        arch, method, srcs, settings = TINY_DROP, "ptft", [src_a.model], fast(weight_decay=1e-3)
    elif case == "dnn-sgd-relu-wd":
        arch, settings = replace(TINY, activation="relu"), fast(optimizer="sgd", lr=0.05, weight_decay=1e-3)
    elif case == "ptft":
        arch, method, srcs = TINY_DROP, "ptft", [src_a.model]
    elif case == "prognet-2-sources":
        arch, method, srcs = TINY_DROP, "prognet", [src_a.model, src_b.model]
    elif case == "prognet-patience-per-fold-x":
        arch, method, srcs, settings = TINY_DROP, "prognet", [src_b.model], fast(patience=2, max_epochs=15)
        data = blobs(per_fold_x=True)
    o = train_folds(data, arch, settings, method=method, sources=srcs, pack=Pack(seed=5),
                    run=Run(rng=rng, vectorised_adam=case.endswith("masked-adam-wd")))
    r = train_folds_reference(data, arch, settings, method=method, sources=srcs, pack=Pack(seed=5), run=Run(rng=rng))
    assert o.rng == r.rng == ("generator" if rng == "auto" else rng)
    assert_same_outcome(o, r)
    assert o.test_uar.mean() > 0.5  # it learned something (chance is 1/3): the comparison is not vacuous
    if settings.patience is not None:
        assert (o.epochs_run < settings.max_epochs).any()


@pytest.mark.parametrize("trainer", TRAINERS)
def test_every_training_row_is_used_once_per_epoch_last_partial_batch_included(trainer):
    data = blobs(n=100, k=4)
    n_train = data.train.sum(1)
    batch = 16
    assert (n_train % batch != 0).all() and len(set(n_train)) > 1  # uneven folds, partial last batches
    seen: dict[tuple[int, int], list] = {}
    steps: dict[tuple[int, int], int] = {}

    def on_batch(epoch, folds, rows, valid):
        for i, f in enumerate(folds):
            r = rows[i][valid[i]].tolist()
            seen.setdefault((epoch, f), []).extend(r)
            steps[(epoch, f)] = steps.get((epoch, f), 0) + (len(r) > 0)

    trainer(data, TINY, fast(batch_size=batch, max_epochs=3), pack=Pack(seed=0), run=Run(on_batch=on_batch))
    for f in range(4):
        for epoch in (1, 2, 3):
            assert sorted(seen[(epoch, f)]) == np.flatnonzero(data.train[f]).tolist()
            assert steps[(epoch, f)] == math.ceil(n_train[f] / batch)
        assert seen[(1, f)] != seen[(2, f)]  # a fresh shuffle each epoch


@chance_folds()  # a short run may leave a fold at chance: not what this test checks
def test_one_sgd_step_is_cross_entropy_on_logits():
    """One epoch, one full batch, SGD: the update must be -lr * grad of F.cross_entropy on the raw
    outputs (a softmax before the loss would give another gradient and another recorded loss)."""
    data = blobs(n=60, k=3)
    lr, seed = 0.5, 4
    o = train_folds(data, TINY, TrainSettings(lr=lr, optimizer="sgd", batch_size=64, max_epochs=1, curve_stride=1),
                    pack=Pack(seed=seed))
    x, y = torch.as_tensor(data.x), torch.as_tensor(data.y)
    for f in range(3):
        net = build_model("dnn", TINY, 8, 3, (), seed, [f])
        params = [p.requires_grad_(True) for p in net.params.values()]
        rows = torch.as_tensor(np.flatnonzero(data.train[f]))
        loss = F.cross_entropy(forward(net, x[rows].unsqueeze(0))[0], y[rows])
        grads = torch.autograd.grad(loss, params)
        for (n, p), g in zip(net.params.items(), grads):
            torch.testing.assert_close(o.model.params[n][f], (p - lr * g)[0].detach(), rtol=0, atol=1e-6)
        assert o.curves.loc[o.curves.fold == f, "train_loss"].item() == pytest.approx(loss.item(), abs=1e-6)


def held_out_data(seed: int = 0, flip_val: bool = False) -> FoldData:
    """Folds that share one validation set (rows 0..29) and one test set (rows 30..59) that no fold
    trains on, so those rows can be changed without touching any fold's training data."""
    data = blobs(n=180, k=3, seed=seed)
    rng = np.random.default_rng(seed)
    n = len(data.y)
    val = np.zeros((3, n), bool)
    test = np.zeros((3, n), bool)
    val[:, :30], test[:, 30:60] = True, True
    train = np.zeros((3, n), bool)
    train[:, 60:] = rng.random((3, n - 60)) < 0.8
    y = np.array(data.y)
    if flip_val:  # validation labels that disagree with what the training rows teach
        y[:30] = (y[:30] + 1) % 3
    return FoldData(data.x, y, train, val, test, 3)


@pytest.mark.parametrize("trainer", TRAINERS)
@chance_folds()  # a short run may leave a fold at chance: not what this test checks
def test_returned_model_is_the_best_epoch_not_the_last(trainer):
    data = held_out_data(flip_val=True)
    o = trainer(data, TINY, fast(lr=3e-2, max_epochs=20, curve_stride=1), pack=Pack(seed=1))
    assert (o.best_epoch < o.epochs_run).all()
    last_val = o.curves[o.curves.epoch == 20].set_index("fold")["val_uar"].to_numpy()
    assert (last_val < o.val_uar - 0.05).all()   # the last epoch is clearly worse than the best
    val_uar_of_returned, _ = evaluate(o.model, data.x, data.y, data.val)
    np.testing.assert_allclose(val_uar_of_returned, o.val_uar, atol=1e-12)
    test_uar_of_returned, cms = evaluate(o.model, data.x, data.y, data.test)
    np.testing.assert_allclose(test_uar_of_returned, o.test_uar, atol=1e-12)
    np.testing.assert_array_equal(cms, o.confusion)
    # curves are per fold at every epoch here: best_epoch is where val_uar peaks (first peak on ties)
    for f in range(3):
        c = o.curves[o.curves.fold == f]
        assert c.val_uar.to_numpy().argmax() + 1 == o.best_epoch[f]


@pytest.mark.parametrize("trainer", TRAINERS)
@chance_folds()  # a short run may leave a fold at chance: not what this test checks
def test_early_stopping_never_looks_at_test_rows(trainer):
    data = held_out_data()
    x2, y2 = np.array(data.x), np.array(data.y)
    rng = np.random.default_rng(7)
    x2[30:60] = rng.normal(size=(30, x2.shape[1])) * 5
    y2[30:60] = rng.integers(0, 3, 30)
    perturbed = FoldData(x2, y2, data.train, data.val, data.test, 3)
    settings = fast(max_epochs=20, patience=3, curve_stride=1)
    a = trainer(data, TINY_DROP, settings, pack=Pack(seed=2))
    b = trainer(perturbed, TINY_DROP, settings, pack=Pack(seed=2))
    np.testing.assert_array_equal(a.best_epoch, b.best_epoch)
    np.testing.assert_array_equal(a.epochs_run, b.epochs_run)
    np.testing.assert_array_equal(a.val_uar, b.val_uar)
    assert all(torch.equal(a.model.params[n], b.model.params[n]) for n in a.model.params)
    np.testing.assert_array_equal(a.curves.val_uar, b.curves.val_uar)
    assert not np.array_equal(a.curves.test_uar, b.curves.test_uar)  # the perturbation did reach the test rows


def test_prognet_source_columns_stay_bit_identical(sources):
    data, _, src_a, src_b = sources
    before = [{n: p.clone() for n, p in s.model.params.items()} for s in (src_a, src_b)]
    o = train_folds(data, TINY_DROP, fast(), method="prognet", sources=[src_a.model, src_b.model], pack=Pack(seed=3))
    for s, b, stored in zip((src_a, src_b), before, o.model.sources):
        assert stored.uid == s.model.uid
        for n in b:
            assert torch.equal(s.model.params[n], b[n])   # the caller's source untouched
            assert torch.equal(stored.params[n], b[n])    # the copy inside the prognet untouched
    # and the new column did train
    init = build_model("prognet", TINY_DROP, 8, 3, [src_a.model, src_b.model], 3, range(4))
    assert not torch.equal(init.params["hidden.1.lateral.0"], o.model.params["hidden.1.lateral.0"])


@chance_folds()  # a short run may leave a fold at chance: not what this test checks
def test_forgetting_measure(sources):
    data, src_data, src_a, _ = sources
    prog = train_folds(data, TINY_DROP, fast(max_epochs=4), method="prognet", sources=[src_a.model],
                       pack=Pack(seed=1))
    np.testing.assert_array_equal(source_task_uar(prog.model, src_a.model, src_data), src_a.test_uar)
    # ptft with a vanishing learning rate keeps the source's hidden layers: no forgetting
    still = train_folds(data, TINY_DROP, fast(max_epochs=2, lr=1e-12), method="ptft", sources=[src_a.model],
                        pack=Pack(seed=1))
    np.testing.assert_allclose(source_task_uar(still.model, src_a.model, src_data), src_a.test_uar, atol=1e-12)
    # real fine-tuning: the source head on the fine-tuned hidden layers, computed by hand
    tuned = train_folds(data, TINY_DROP, fast(max_epochs=10, lr=5e-2), method="ptft", sources=[src_a.model],
                        pack=Pack(seed=1))
    after = source_task_uar(tuned.model, src_a.model, src_data)
    hand = StackedModel("dnn", TINY_DROP, 8, 4,
                        {n: (tuned.model.params[n] if n.startswith("hidden.") else src_a.model.params[n])
                         for n in src_a.model.params})
    np.testing.assert_array_equal(after, evaluate(hand, src_data.x, src_data.y, src_data.test)[0])
    assert not np.array_equal(after, src_a.test_uar)
    with chance_folds(expect=True) as caught:   # one epoch: some folds still predict one class
        dnn = train_folds(data, TINY, fast(max_epochs=1), pack=Pack(seed=0))
    assert all("UAR at chance" in str(w.message) for w in caught)
    with pytest.raises(UserError, match="no source"):
        source_task_uar(dnn.model, src_a.model, src_data)
    with pytest.raises(UserError, match="not"):
        source_task_uar(prog.model, tuned.model, src_data)


@chance_folds()  # a short run may leave a fold at chance: not what this test checks
def test_same_seed_same_result_other_seed_differs():
    data = blobs()
    a = train_folds(data, TINY_DROP, fast(), pack=Pack(seed=3))
    b = train_folds(data, TINY_DROP, fast(), pack=Pack(seed=3))
    c = train_folds(data, TINY_DROP, fast(), pack=Pack(seed=4))
    np.testing.assert_array_equal(a.test_uar, b.test_uar)
    np.testing.assert_array_equal(a.val_uar, b.val_uar)
    assert all(torch.equal(a.model.params[n], b.model.params[n]) for n in a.model.params)
    assert not torch.equal(a.model.params["hidden.0.weight"], c.model.params["hidden.0.weight"])


@chance_folds()  # a short run may leave a fold at chance: not what this test checks
def test_patience_stops_folds_and_stopped_folds_cost_nothing():
    data = blobs()
    active_steps = []

    def on_batch(epoch, folds, rows, valid):
        active_steps.append((epoch, set(folds.tolist())))

    o = train_folds(data, TINY, fast(patience=2, max_epochs=40, lr=5e-2), pack=Pack(seed=0), run=Run(on_batch=on_batch))
    assert (o.epochs_run < 40).any()
    for f in range(4):
        if o.epochs_run[f] < 40:
            assert o.epochs_run[f] == o.best_epoch[f] + 2
        assert all(f not in folds for epoch, folds in active_steps if epoch > o.epochs_run[f])
        assert o.curves[o.curves.fold == f].epoch.max() == o.epochs_run[f]  # last epoch recorded


def test_curves_every_stride_and_at_the_last_epoch():
    o = train_folds(blobs(), TINY, fast(max_epochs=12, curve_stride=5), pack=Pack(seed=0))
    assert list(o.curves.columns) == ["fold", "epoch", "train_loss", "val_uar", "test_uar"]
    for f in range(4):
        assert o.curves[o.curves.fold == f].epoch.tolist() == [5, 10, 12]


def test_single_class_predictions_warn_loudly(caplog):
    data = blobs(n=60, k=3)
    constant = FoldData(np.zeros_like(np.asarray(data.x)), data.y, data.train, data.val, data.test, 3)
    with caplog.at_level(logging.WARNING), pytest.warns(SingleClassWarning, match="predicts class"):
        train_folds(constant, TINY, fast(max_epochs=1), pack=Pack(seed=0))
    assert "predicts class" in caplog.text


def test_uar_is_per_utterance_over_the_whole_fold_not_per_chunk():
    """A hand-set network that predicts argmax(x); 10 test rows evaluated in chunks of 4."""
    eye = torch.eye(3).unsqueeze(0)
    net = StackedModel("dnn", Architecture(layers=1, width=3, activation="relu", dropout=0.5), 3, 3,
                       {"hidden.0.weight": eye, "hidden.0.bias": torch.zeros(1, 1, 3),
                        "out.weight": eye, "out.bias": torch.zeros(1, 1, 3)})
    truth = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 0, 0, 0, 0, 1, 0, 1, 2])
    x = np.eye(3, dtype=np.float32)[pred]
    mask = np.ones((1, 10), bool)
    np.testing.assert_array_equal(predict(net, x, mask, chunk_rows=4)[0], pred)
    uar, cm = evaluate(net, x, truth, mask, chunk_rows=4)
    # per class: 6/7, 1/2, 1/1. (Per-chunk mean would be 0.778, dropping the last chunk 0.429, accuracy 0.8.)
    assert uar[0] == pytest.approx((6 / 7 + 1 / 2 + 1) / 3)
    assert cm[0].sum() == 10


@pytest.mark.parametrize("vectorised", [False, True])   # fused slices (CPU default), masked (CUDA default)
def test_stacked_adam_matches_torch_adam_and_idle_folds_do_not_move(vectorised):
    torch.manual_seed(0)
    p0 = torch.randn(3, 4, 5)
    grads = [torch.randn(3, 4, 5) for _ in range(6)]   # idle folds get gradients too: they must ignore them
    moving = np.array([[1, 1, 1], [1, 0, 1], [1, 0, 0], [1, 1, 0], [0, 1, 1], [1, 1, 1]], bool)
    settings = TrainSettings(lr=1e-2, weight_decay=1e-2)
    p = p0.clone()
    opt = StackedOptimizer([p], settings, vectorised=vectorised)
    coef = opt.plan_epoch(moving, torch.device("cpu"))
    for s, g in enumerate(grads):
        before = p.clone()
        moments = [t.clone() for t in (opt.m[0], opt.v[0])]
        opt.step([g], coef[s])
        for f in np.flatnonzero(~moving[s]):
            assert torch.equal(p[f], before[f])
            assert torch.equal(opt.m[0][f], moments[0][f]) and torch.equal(opt.v[0][f], moments[1][f])
    for f in range(3):
        q = p0[f].clone().requires_grad_(True)
        ref = torch.optim.Adam([q], lr=1e-2, weight_decay=1e-2)
        for s, g in enumerate(grads):
            if moving[s, f]:
                q.grad = g[f].clone()
                ref.step()
        torch.testing.assert_close(p[f], q.detach(), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(opt.steps, moving.sum(0))


def test_stacked_sgd_idle_folds_do_not_move():
    p = torch.randn(3, 2, 2)
    opt = StackedOptimizer([p], TrainSettings(optimizer="sgd", lr=0.1, weight_decay=0.01))
    coef = opt.plan_epoch(np.array([[1, 0, 1]], bool), torch.device("cpu"))
    before = p.clone()
    g = torch.randn(3, 2, 2)
    opt.step([g], coef[0])
    assert torch.equal(p[1], before[1])
    torch.testing.assert_close(p[0], before[0] - 0.1 * (g[0] + 0.01 * before[0]))


@pytest.mark.parametrize("trainer", TRAINERS)
def test_data_misuse_is_a_user_error(trainer, sources):
    data, _, src_a, _ = sources
    with pytest.raises(UserError, match="folds"):
        trainer(FoldData(data.x, data.y, data.train[:3], data.val[:3], data.test[:3], 3), TINY, fast(),
                method="prognet", sources=[src_a.model])
    overlap = data.train.copy()
    overlap[0] |= data.test[0]
    with pytest.raises(UserError, match="overlap"):
        trainer(FoldData(data.x, data.y, overlap, data.val, data.test, 3), TINY, fast())
    empty_val = data.val.copy()
    empty_val[1] = False
    with pytest.raises(UserError, match="empty"):
        trainer(FoldData(data.x, data.y, data.train, empty_val, data.test, 3), TINY, fast())
    with pytest.raises(UserError, match="class ids"):
        trainer(FoldData(data.x, np.asarray(data.y) + 1, data.train, data.val, data.test, 3), TINY, fast())
    with pytest.raises(UserError, match="method"):
        trainer(data, TINY, fast(), method="finetune")
    with pytest.raises(UserError, match="device"):
        trainer(data, TINY, fast(), run=Run(device="tpu:7"))
    with pytest.raises(UserError, match="exactly one"):
        trainer(data, TINY, fast(), method="ptft", sources=[src_a.model, src_a.model])



@pytest.mark.parametrize("trainer", TRAINERS)
@chance_folds()  # a short run may leave a fold at chance: not what this test checks
def test_epoch_callback_sees_best_so_far_and_can_stop(trainer):
    data = blobs()
    seen = []

    def callback(epoch, best_val):
        seen.append((epoch, best_val))
        return epoch == 3

    o = trainer(data, TINY, fast(max_epochs=10), pack=Pack(seed=0), run=Run(epoch_callback=callback))
    np.testing.assert_array_equal(o.epochs_run, 3)
    assert all(v.shape == (4,) for _, v in seen)
    final = seen[-1][1]
    np.testing.assert_allclose(final, o.val_uar, atol=1e-12)
    np.testing.assert_allclose(evaluate(o.model, data.x, data.y, data.val)[0], o.val_uar, atol=1e-12)
    for (_, a), (_, b) in zip(seen, seen[1:]):  # best so far never decreases
        ok = ~np.isnan(a)
        assert (b[ok] >= a[ok]).all()

@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_vectorised_equals_cuda_reference(sources):
    data, _, src_a, src_b = sources
    kw = dict(method="prognet", sources=[src_a.model, src_b.model], pack=Pack(seed=5), run=Run(device="cuda"))
    o = train_folds(data, TINY_DROP, fast(patience=3), **kw)
    r = train_folds_reference(data, TINY_DROP, fast(patience=3), **kw)
    assert o.device.startswith("cuda") and o.model.device.type == "cuda"
    o.model, r.model = o.model.to("cpu"), r.model.to("cpu")
    assert_same_outcome(o, r, atol=1e-4)


def test_balanced_class_weights_follow_the_formula_and_change_training():
    from paragrid.models.data import prepare
    from paragrid.models.train import class_weights
    rng = np.random.default_rng(0)
    y = np.array([0] * 30 + [1] * 10 + [2] * 20)
    x = rng.standard_normal((60, 3)) + y[:, None] * 0.3
    train = np.zeros((2, 60), dtype=bool)
    train[0, :40] = True                      # fold 0: 30 of class 0, 10 of class 1, none of 2
    train[1, 10:40] = True                    # fold 1: 20 of class 0, 10 of class 1
    val = np.zeros_like(train)
    val[:, 40:50] = True
    test = np.zeros_like(train)
    test[:, 50:] = True
    data = FoldData(x=x, y=y, train=train, val=val, test=test, n_classes=3)
    d = prepare(data, torch.device("cpu"))
    assert class_weights(TrainSettings(), d) is None
    w = class_weights(TrainSettings(class_weights="balanced"), d).numpy()
    np.testing.assert_allclose(w[0], [40 / (2 * 30), 40 / (2 * 10), 0.0], rtol=1e-6)
    np.testing.assert_allclose(w[1], [30 / (2 * 20), 30 / (2 * 10), 0.0], rtol=1e-6)
    arch = Architecture(layers=1, width=4, dropout=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # three epochs may predict one class
        plain = train_folds(data, arch, TrainSettings(max_epochs=3, batch_size=8))
        weighted = train_folds(data, arch, TrainSettings(max_epochs=3, batch_size=8, class_weights="balanced"))
    assert not np.allclose(plain.curves.train_loss, weighted.curves.train_loss)
