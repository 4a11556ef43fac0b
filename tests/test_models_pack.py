"""Packs: several trials trained as ONE stacked model equal each trial trained alone, per fold.

Trials of a pack differ in seed, in training rows (fold budgets) and even in their fold split
(repeats); fold-model i draws its init, batch orders and dropout from (seeds[i], fold_ids[i]).
"""

import numpy as np
import pytest
import torch
from models_helpers import (NO_STRAY_CHANCE_WARNINGS, TINY_DROP, assert_same_outcome, blobs,  # noqa: F401
                            chance_folds, fast, fold_masks, one_thread, relabel)

from paragrid.errors import UserError
from paragrid.models.config import Architecture
from paragrid.models.data import FoldData
from paragrid.models.pack import stack_data, stack_models, unstack
from paragrid.models.reference import train_folds_reference
from paragrid.models.train import train_folds
from paragrid.models.evaluate import source_task_uar
from paragrid.models.options import Pack, Run

pytestmark = NO_STRAY_CHANCE_WARNINGS

K = 4
SEEDS = (5, 17, 29)


def trial_data(base: FoldData, split_seed: int, budget: float, seed: int) -> FoldData:
    """One trial: the split of `split_seed` (a repeat), training rows thinned to `budget` of each fold's."""
    train, val, test = fold_masks(len(base.y), K, split_seed)
    rng = np.random.default_rng([seed, 99])
    train = train & (rng.random(train.shape) < budget)
    return FoldData(base.x, base.y, train, val, test, base.n_classes, n_full_train=None)


def source_labels(data: FoldData) -> np.ndarray:
    x = np.asarray(data.x)
    return (x[:, 3] > 0).astype(np.int64) * 2 + (x[:, 4] > 0)


@pytest.fixture(scope="module")
def trials():
    """Three trials: (seed, data) with different seeds, splits and budgets (uneven fold sizes)."""
    torch.set_num_threads(1)
    base = blobs(n=150, k=K)
    specs = [(0, 1.0), (0, 0.55), (1, 0.3)]   # (split, budget): two budgets of one repeat, another repeat
    out = [(s, trial_data(base, split, budget, s)) for s, (split, budget) in zip(SEEDS, specs)]
    sizes = [d.train.sum(1) for _, d in out]
    assert len({tuple(v) for v in sizes}) == 3 and max(v.max() for v in sizes) > 2 * min(v.min() for v in sizes)
    return out


@pytest.fixture(scope="module")
def sources(trials):
    """Per trial, two source models (different shapes) trained on the trial's own folds and seed
    (five epochs: a fold may sit at chance, which chance_folds captures and checks)."""
    torch.set_num_threads(1)
    per_trial = []
    for seed, d in trials:
        src = relabel(d, source_labels(d), 4)
        with chance_folds():
            a = train_folds(src, TINY_DROP, fast(max_epochs=5), pack=Pack(seed=seed + 1000)).model
            b = train_folds(src, Architecture(layers=3, width=12, activation="tanh", dropout=0.5), fast(max_epochs=5),
                            pack=Pack(seed=seed + 2000)).model
        per_trial.append((a, b))
    return per_trial


def pack_args(trials):
    seeds = [s for s, _ in trials for _ in range(K)]
    fold_ids = [f for _ in trials for f in range(K)]
    return stack_data([d for _, d in trials]), seeds, fold_ids


CASES = {
    "dnn": dict(arch=TINY_DROP, settings=fast(), method="dnn"),
    "dnn-patience-matched": dict(arch=TINY_DROP, settings=fast(patience=3, max_epochs=14, updates="matched"),
                                 method="dnn", full=True),
    "dnn-hash-masked-adam": dict(arch=TINY_DROP, settings=fast(), method="dnn", rng="hash", vectorised_adam=True),
    "ptft": dict(arch=TINY_DROP, settings=fast(), method="ptft", n_sources=1),
    "prognet-2-sources": dict(arch=TINY_DROP, settings=fast(patience=4, max_epochs=14), method="prognet", n_sources=2),
}


def run_case(case, trials, sources):
    c = CASES[case]
    kw = dict(method=c["method"], run=Run(rng=c.get("rng", "auto"), vectorised_adam=c.get("vectorised_adam")))
    datas = [d for _, d in trials]
    if c.get("full"):   # matched updates: every trial's full budget is trial 0's fold sizes
        datas = [FoldData(d.x, d.y, d.train, d.val, d.test, d.n_classes, n_full_train=trials[0][1].train.sum(1))
                 for d in datas]
    n_src = c.get("n_sources", 0)
    alone = []
    for t, ((seed, _), d) in enumerate(zip(trials, datas)):
        alone.append(train_folds(d, c["arch"], c["settings"], sources=list(sources[t][:n_src]), pack=Pack(seed=seed),
                                 **kw))
    packed_srcs = [stack_models([sources[t][j] for t in range(len(trials))]) for j in range(n_src)]
    _, seeds, fold_ids = pack_args(trials)
    packed = train_folds(stack_data(datas), c["arch"], c["settings"], sources=packed_srcs,
                         pack=Pack(seed=0, seeds=seeds, fold_ids=fold_ids), **kw)
    return alone, packed


@pytest.mark.parametrize("case", list(CASES))
def test_packed_trials_equal_each_trial_trained_alone(case, trials, sources):
    with chance_folds():
        alone, packed = run_case(case, trials, sources)
    assert packed.n_folds == K * len(trials)
    for t, one in enumerate(alone):
        part = packed.select(range(K * t, K * (t + 1)))
        assert_same_outcome(part, one)           # test/val UAR, best epoch, epochs run, curves, weights
        np.testing.assert_array_equal(part.epoch_cap, one.epoch_cap)
        np.testing.assert_array_equal(part.optimizer_steps, one.optimizer_steps)
        np.testing.assert_array_equal(part.seeds, SEEDS[t])
        np.testing.assert_array_equal(part.fold_ids, np.arange(K))
        assert part.model.meta["seed"] == SEEDS[t]
    if CASES[case]["settings"].patience is not None:
        assert len(set(packed.epochs_run.tolist())) > 1          # fold-models stopped at different epochs
    if CASES[case]["settings"].updates == "matched":
        assert (packed.epoch_cap > CASES[case]["settings"].max_epochs).any()   # smaller budgets train longer
    assert np.mean([o.test_uar.mean() for o in alone]) > 0.45     # they learned something (chance 1/3)


def test_packed_prognet_split_holds_each_trials_own_sources(trials, sources):
    with chance_folds():
        alone, packed = run_case("prognet-2-sources", trials, sources)
        for t, (seed, d) in enumerate(trials):
            part = packed.select(range(K * t, K * (t + 1)))
            assert [s.uid for s in part.model.sources] == [s.uid for s in sources[t]]
            assert part.model.meta["source_uids"] == [s.uid for s in sources[t]]
            src_data = relabel(d, source_labels(d), 4)
            np.testing.assert_array_equal(source_task_uar(part.model, sources[t][0], src_data),
                                          source_task_uar(alone[t].model, sources[t][0], src_data))


def test_packed_ptft_split_knows_its_source(trials, sources):
    with chance_folds():
        _, packed = run_case("ptft", trials, sources)
    part = packed.select(range(K, 2 * K))
    assert part.model.meta["source_uids"] == [sources[1][0].uid]
    d = trials[1][1]
    with chance_folds():
        uar = source_task_uar(part.model, sources[1][0], relabel(d, source_labels(d), 4))
    assert uar.shape == (K,)


def test_packed_equals_reference_per_fold(trials):
    """The one-fold-at-a-time reference with the pack's seeds / fold ids gives the same numbers."""
    data, seeds, fold_ids = pack_args(trials)
    with chance_folds():
        o = train_folds(data, TINY_DROP, fast(max_epochs=6), pack=Pack(seeds=seeds, fold_ids=fold_ids))
        r = train_folds_reference(data, TINY_DROP, fast(max_epochs=6), pack=Pack(seeds=seeds, fold_ids=fold_ids))
    assert_same_outcome(o, r)


@pytest.mark.parametrize("rng", ["generator", "hash"])
def test_same_seeds_same_numbers_packed_or_not(rng, trials):
    data, seeds, fold_ids = pack_args(trials)
    with chance_folds():
        a = train_folds(data, TINY_DROP, fast(max_epochs=5), pack=Pack(seeds=seeds, fold_ids=fold_ids),
                        run=Run(rng=rng))
        b = train_folds(data, TINY_DROP, fast(max_epochs=5), pack=Pack(seeds=seeds, fold_ids=fold_ids),
                        run=Run(rng=rng))
        c = train_folds(trials[0][1], TINY_DROP, fast(max_epochs=5), pack=Pack(seed=SEEDS[0]), run=Run(rng=rng))
        d = train_folds(trials[0][1], TINY_DROP, fast(max_epochs=5), pack=Pack(seed=SEEDS[0]), run=Run(rng=rng))
        e = train_folds(trials[0][1], TINY_DROP, fast(max_epochs=5), pack=Pack(seed=SEEDS[0] + 1), run=Run(rng=rng))
    assert a.rng == rng and a.model.meta["rng"] == rng
    for x, y in ((a, b), (c, d)):
        np.testing.assert_array_equal(x.test_uar, y.test_uar)
        np.testing.assert_array_equal(x.val_uar, y.val_uar)
        assert x.curves.equals(y.curves)
        assert all(torch.equal(x.model.params[n], y.model.params[n]) for n in x.model.params)
    assert not torch.equal(c.model.params["hidden.0.weight"], e.model.params["hidden.0.weight"])


def test_budgets_of_one_repeat_share_their_streams_packed_or_not(trials):
    """Common random numbers: two budgets of one repeat with the same seed are fold-models with the
    same (seed, fold id) pairs; packed, each still equals its own run alone."""
    seed, full = trials[0]
    small = trials[1][1]                        # the same split at a smaller budget
    with chance_folds():
        packed = train_folds(stack_data([full, small]), TINY_DROP, fast(max_epochs=5),
                             pack=Pack(seeds=[seed] * (2 * K), fold_ids=list(range(K)) * 2))
        for t, d in enumerate((full, small)):
            assert_same_outcome(packed.select(range(K * t, K * (t + 1))),
                                train_folds(d, TINY_DROP, fast(max_epochs=5), pack=Pack(seed=seed)))


def test_stack_data_keeps_shared_features_and_broadcasts_per_fold_ones(trials):
    d0, d1 = trials[0][1], trials[1][1]
    shared = stack_data([d0, d1])
    assert np.asarray(shared.x).shape == np.asarray(d0.x).shape and shared.train.shape == (2 * K, len(d0.y))
    per_fold = FoldData(np.stack([np.asarray(d1.x) + i for i in range(K)]), d1.y, d1.train, d1.val, d1.test, 3)
    mixed = stack_data([d0, per_fold])
    assert np.asarray(mixed.x).shape == (2 * K, *np.asarray(d0.x).shape)
    np.testing.assert_array_equal(mixed.x[K + 2], per_fold.x[2])
    np.testing.assert_array_equal(mixed.x[1], d0.x)
    assert mixed.n_full_train is None
    with pytest.raises(UserError, match="labels"):
        stack_data([d0, FoldData(d0.x, (np.asarray(d0.y) + 1) % 3, d0.train, d0.val, d0.test, 3)])


def test_stack_models_checks_shapes_and_unstack_returns_the_parts(sources):
    a0, b0 = sources[0]
    a1, _ = sources[1]
    s = stack_models([a0, a1])
    assert s.n_folds == 2 * K and s.uid not in (a0.uid, a1.uid)
    back = unstack(s, range(K, 2 * K))
    assert back.uid == a1.uid and all(torch.equal(back.params[n], a1.params[n]) for n in a1.params)
    assert unstack(s, [0, K]).uid not in (a0.uid, a1.uid)     # not one part: a fresh uid
    with pytest.raises(UserError, match="shape"):
        stack_models([a0, b0])


@pytest.mark.parametrize("kwargs, match", [
    (dict(seeds=[1, 2]), "seeds has 2 entries"),
    (dict(fold_ids=[0, 1, 2]), "fold_ids has 3 entries"),
    (dict(seeds=[-1] * K), ">= 0"),
])
def test_pack_keys_misuse_is_a_user_error(kwargs, match, trials):
    with pytest.raises(UserError, match=match):
        train_folds(trials[0][1], TINY_DROP, fast(max_epochs=1), pack=Pack(**kwargs))
