"""Units of work: pack sizes, pack contents, scheduling order, and the dependency searcher."""
from __future__ import annotations

import pytest

from paragrid.grid.plan import (DNN_STAGE, MIN_UNIT_S, SOURCE_STAGE, TRANSFER_STAGE, PackedTrial, PackPolicy,
                                SourceJob, bytes_per_fold_model, pack_key, pack_size, pack_unit, source_unit,
                                split)
from paragrid.grid.spec import Trial


def _cpu(setting="auto", slots=2):
    return PackPolicy(setting=setting, gpu=0.0, slots=slots)


def test_cpu_auto_packs_only_trials_too_small_to_amortise_scheduling():
    # a trial of 10 s fills its slot: never packed on the CPU (packing was measured not to help)
    assert pack_size(_cpu(), group_size=50, n_units_total_if_single=1000, trial_cost_s=10.0,
                     fold_models_per_trial=10, fold_model_bytes=1) == 1
    # 0.1 s trials: packed until a unit holds MIN_UNIT_S of work
    size = pack_size(_cpu(), group_size=500, n_units_total_if_single=10_000, trial_cost_s=0.1,
                     fold_models_per_trial=10, fold_model_bytes=1)
    assert size == round(MIN_UNIT_S / 0.1)
    # no estimate: no packing (nothing to base it on)
    assert pack_size(_cpu(), 50, 1000, None, 10, 1) == 1


def test_packs_never_starve_the_slots():
    # 8 tiny trials on 2 slots: at most 2 per pack, so 4 units keep both slots busy
    assert pack_size(_cpu(slots=2), group_size=8, n_units_total_if_single=8, trial_cost_s=0.01,
                     fold_models_per_trial=10, fold_model_bytes=1) == 2


def test_explicit_pack_size_is_kept_up_to_the_group():
    assert pack_size(_cpu(setting=7), 5, 100, 100.0, 10, 1) == 5
    assert pack_size(_cpu(setting=3), 50, 100, 100.0, 10, 1) == 3


def test_gpu_auto_fills_the_stated_share_of_device_memory():
    per_model = bytes_per_fold_model(n_rows=5000, n_in=88, width=256, layers=4, n_classes=4, batch_size=256)
    gpu = PackPolicy(setting="auto", gpu=0.25, slots=4, device_bytes=80 << 30)
    size = pack_size(gpu, group_size=100_000, n_units_total_if_single=100_000, trial_cost_s=1.0,
                     fold_models_per_trial=10, fold_model_bytes=per_model)
    assert size * 10 * per_model <= 0.5 * 0.25 * (80 << 30) < (size + 1) * 10 * per_model
    # a fold-model is a few MB: weights x5, features, activations
    assert 1 << 20 < per_model < 64 << 20


def test_split_makes_near_equal_consecutive_packs():
    assert split(list(range(10)), 4) == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert split([1], 4) == [[1]] and split([], 3) == []
    assert sum(split(list(range(101)), 7), []) == list(range(101))


def test_pack_key_groups_same_shape_trials_only():
    a = Trial("prognet", ("gender",), "ca", 2, 0)
    assert pack_key(a) == pack_key(Trial("prognet", ("gender",), "ca", 1, 5))   # budgets/repeats differ
    assert pack_key(a) != pack_key(Trial("ptft", ("gender",), "ca", 2, 0))      # method
    assert pack_key(a) != pack_key(Trial("prognet", ("gender",), "cb", 2, 0))   # target rows
    assert pack_key(a) != pack_key(Trial("prognet", ("gender", "speaker"), "ca", 2, 0))  # columns


def test_units_name_their_stage_trials_and_dependencies():
    job = SourceJob("gender", "ca", 0, 2, False, "k" * 24, for_target="ca")
    src = source_unit(job)
    assert src.stage == SOURCE_STAGE and src.n_trials == 0 and src.is_source and src.needs == frozenset()
    t1, t2 = Trial("prognet", ("gender",), "ca", 2, 0), Trial("prognet", ("gender",), "ca", 2, 1)
    pack = pack_unit([PackedTrial(t1, ("k1",)), PackedTrial(t2, ("k2",))])
    assert pack.stage == TRANSFER_STAGE and pack.n_trials == 2 and pack.columns == 2
    assert pack.trial_ids == (t1.trial_id, t2.trial_id) and pack.needs == {"k1", "k2"}
    assert pack.id == f"{t1.trial_id}+1"
    assert pack_unit([PackedTrial(Trial("dnn", (), "ca", 2, 0))]).stage == DNN_STAGE


def test_searcher_hands_out_in_order_waits_for_sources_and_drops_on_a_lost_one():
    from ray.tune.search import Searcher

    from paragrid.grid.run import dependency_searcher

    j1 = SourceJob("gender", "ca", 0, 2, False, "a" * 24, for_target="ca")
    j2 = SourceJob("speaker", "ca", 0, 2, False, "b" * 24, for_target="ca")
    s1, s2 = source_unit(j1), source_unit(j2)
    needs1 = pack_unit([PackedTrial(Trial("prognet", ("gender",), "ca", 2, 0), (j1.key,))])
    needs2 = pack_unit([PackedTrial(Trial("prognet", ("speaker",), "ca", 2, 0), (j2.key,))])
    dnn = pack_unit([PackedTrial(Trial("dnn", (), "ca", 2, 0))])
    dropped = []
    s = dependency_searcher([s1, s2, needs1, needs2, dnn], stored=set(), on_drop=lambda u, k: dropped.append(u.id))
    assert [s.suggest(str(i))["unit_id"] for i in range(3)] == [s1.id, s2.id, dnn.id]
    assert s.suggest("3") is None                       # the transfer units wait for their sources
    s.on_trial_complete("0", {"test_uar_mean": 0.5})    # gender model done
    assert s.suggest("4")["unit_id"] == needs1.id
    s.on_trial_complete("1", {"user_error": "bad corpus"})  # speaker model failed for good
    assert dropped == [needs2.id]
    assert s.suggest("5") == Searcher.FINISHED


def test_searcher_reads_each_units_needs_once_on_ten_thousand_units(monkeypatch):
    """Linear, not quadratic: a scan of all pending units per suggestion took minutes at 10^4
    units. Counted, not timed: each unit's needs are read once, however many suggestions follow."""
    from paragrid.grid.plan import Unit
    from paragrid.grid.run import dependency_searcher

    reads = []
    needs = Unit.needs
    monkeypatch.setattr(Unit, "needs", property(lambda u: reads.append(u.id) or needs.fget(u)))
    job = SourceJob("gender", "ca", 0, 2, False, "a" * 24, for_target="ca")
    units = [source_unit(job)] + [
        pack_unit([PackedTrial(Trial("prognet", ("gender",), "ca", 2, r), (job.key,))]) for r in range(10_000)]
    s = dependency_searcher(units, stored=set(), on_drop=lambda u, k: None)
    assert s.suggest("src")["unit_id"] == units[0].id
    assert s.suggest("x") is None
    s.on_trial_complete("src", {})
    got = [s.suggest(str(i)) for i in range(10_000)]
    assert len({g["unit_id"] for g in got}) == 10_000
    assert len(reads) == len(units)


@pytest.mark.parametrize("bad", ["x", 0, -1])
def test_pack_setting_is_validated(tmp_path, bad):
    from grid_helpers import tiny_spec, write_corpora, write_spec

    from paragrid.errors import UserError
    from paragrid.grid.spec import load_spec

    write_corpora(tmp_path)
    with pytest.raises(UserError, match="resources.pack"):
        load_spec(write_spec(tmp_path, tiny_spec(resources={"cpu": 1, "gpu": 0, "pack": bad})))


def test_a_source_pack_provides_all_its_models_and_releases_what_waits_on_them():
    from paragrid.grid.plan import source_pack_key
    from paragrid.grid.run import dependency_searcher, unit_config

    jobs = [SourceJob("emotion", "cb", r, 8, True, f"{r}" * 24, for_target="ca") for r in range(3)]
    src = source_unit(jobs)
    assert src.is_source and src.n_trials == 0 and src.provides == {j.key for j in jobs}
    assert src.id == f"{jobs[0].job_id}+2"
    cfg = unit_config(src)
    assert cfg["kind"] == "source" and cfg["repeats"] == "0,1,2" and cfg["n_models"] == 3
    arch, train = {"width": 8}, {"lr": 0.1}
    assert source_pack_key(jobs[0], arch, train) == source_pack_key(jobs[2], arch, train)   # repeats differ
    assert source_pack_key(jobs[0], arch, train) != source_pack_key(jobs[0], {"width": 16}, train)
    assert source_pack_key(jobs[0], arch, train) != source_pack_key(
        SourceJob("gender", "cb", 0, 8, True, "g" * 24, for_target="ca"), arch, train)
    waiting = [pack_unit([PackedTrial(Trial("prognet", ("emotion@cb",), "ca", 2, r), (jobs[r].key,))])
               for r in range(3)]
    s = dependency_searcher([src, *waiting], stored=set(), on_drop=lambda u, k: None)
    assert s.suggest("0")["unit_id"] == src.id and s.suggest("1") is None
    s.on_trial_complete("0", {"test_uar_mean": 0.5})
    assert [s.suggest(str(i))["unit_id"] for i in (2, 3, 4)] == [u.id for u in waiting]


def test_a_retried_pack_whose_files_exist_reads_them_instead_of_training(tmp_path, monkeypatch):
    """The worker wrote a pack's files, then died before its report: Tune retries the unit, and
    the retry reads the files (no training, no second copy); a unit id that names other trials
    (another packing of the same first trial) is trained afresh."""
    import types

    import pandas as pd

    from paragrid.grid.work import DeviceChoice
    from paragrid.grid.work import _unit as trainable
    from paragrid.grid.store import RunDir, Storage

    run = RunDir(Storage(tmp_path), "g")
    members = [PackedTrial(Trial("dnn", (), "ca", 2, r)) for r in (0, 1)]
    unit = pack_unit(members)
    ids = list(unit.trial_ids)

    def frames(trial_ids):
        res = pd.DataFrame({"trial_id": [t for t in trial_ids for _ in range(2)], "fold": [0, 1] * len(trial_ids),
                            "test_uar": 0.5, "val_uar": 0.6, "epochs_run": 3, "best_epoch": 2})
        return res, res[["trial_id", "fold"]]

    run.write_unit(unit.id, *frames(ids), {"spec_hash": "h", "trial_ids": ids})
    calls = []
    monkeypatch.setattr(trainable, "run_pack", lambda trials, *a, **k: calls.append(trials) or frames(
        [t.trial_id for t in trials]))
    monkeypatch.setattr(trainable, "ModelStore", lambda storage: types.SimpleNamespace(load=None))
    ctx = types.SimpleNamespace(spec_hash="h", spec=None, corpora={})
    choice = DeviceChoice("cpu", None, "node")
    out = trainable._pack(unit, ctx, run, run.storage, choice, 0.0)
    assert calls == [] and out["trials_resumed"] == 2 and out["folds"] == 4
    ctx.spec_hash = "other"                                       # the spec changed: train again
    out = trainable._pack(unit, ctx, run, run.storage, choice, 0.0)
    assert len(calls) == 1 and out["trials_resumed"] == 0
    assert run.finished_units("other") == {unit.id: tuple(ids)} and run.finished_units("h") == {}


def test_cpu_packs_of_wide_features_fit_in_memory():
    """6,373 inputs (ComParE) on 10,000 rows: per-step copies make a fold-model ~0.5 GB, so the
    time rule's pack of 100 cheap trials is cut to what half of 8 GiB over 2 slots holds."""
    from paragrid.grid.plan import bytes_per_fold_model

    wide = bytes_per_fold_model(n_rows=10_000, n_in=6373, width=256, layers=4, n_classes=4, batch_size=256)
    narrow = bytes_per_fold_model(n_rows=10_000, n_in=88, width=256, layers=4, n_classes=4, batch_size=256)
    assert wide > 20 * narrow
    roomy = PackPolicy(setting="auto", gpu=0.0, slots=2, host_bytes=64 << 30)
    assert pack_size(roomy, 100, 100, 0.1, 10, narrow) == 25     # the time rule, capped at 2 units/slot
    small = PackPolicy(setting="auto", gpu=0.0, slots=2, host_bytes=8 << 30)
    assert pack_size(small, 100, 100, 0.1, 10, narrow) == (2 << 30) // (10 * narrow) == 11
    assert pack_size(small, 100, 100, 0.1, 10, wide) == 1


def test_stage_counts_and_the_wall_estimate_of_a_plan():
    from paragrid.grid.plan import stage_counts, wall_estimate

    job = SourceJob(task="gender", corpus="a", repeat=0, budget=8, cross=False, key="k" * 24, for_target="a")
    src = source_unit([job, job], cost=4.0)
    pack = pack_unit([PackedTrial(Trial("ptft", ("gender",), "a", 8, r)) for r in range(3)], cost=2.0)
    dnn = pack_unit([PackedTrial(Trial("dnn", (), "a", 8, 0))], cost=2.0)
    counts = stage_counts([src, pack, dnn])
    assert [(c.work, c.units) for c in counts.values()] == [(2, 1), (3, 1), (1, 1)]
    assert list(counts) == [SOURCE_STAGE, TRANSFER_STAGE, DNN_STAGE]
    # total cost over the slots, or the longest unit when that is longer
    assert wall_estimate([src, pack, dnn], slots=2) == 4.0
    assert wall_estimate([src, pack, dnn], slots=1) == 8.0
    assert wall_estimate([pack_unit([PackedTrial(Trial("dnn", (), "a", 8, 1))], cost=None), src], 2) is None
