"""The networks: the paper's equations written out by hand, eval mode, construction rules, save/load."""

import numpy as np
import pytest
import torch
from models_helpers import NO_STRAY_CHANCE_WARNINGS, one_thread  # noqa: F401  (autouse fixture)

from paragrid.errors import UserError
from paragrid.models.config import ACTIVATIONS, Architecture, TrainSettings
from paragrid.models.nets import ACTIVATION_FNS, StackedModel, build_model, forward, hidden_states
from paragrid.models.evaluate import predict

pytestmark = NO_STRAY_CHANCE_WARNINGS

N_IN, N_FOLDS = 6, 3


def source(seed: int, width: int = 5, classes: int = 4, layers: int = 3) -> StackedModel:
    return build_model("dnn", Architecture(layers=layers, width=width, activation="tanh", dropout=0.5),
                       N_IN, classes, (), seed, range(N_FOLDS))


def hand_hidden(m: StackedModel, x: torch.Tensor, f: int, keep=None) -> list[torch.Tensor]:
    """Fold f's hidden layers with plain matrix products, straight from the paper."""
    act = ACTIVATION_FNS[m.arch.activation]
    p = {n: t[f] for n, t in m.params.items()}
    src = [hand_hidden(s, x, f) for s in m.sources]  # frozen columns: no dropout
    h = []
    for k in range(m.arch.layers):
        z = (x if k == 0 else h[k - 1]) @ p[f"hidden.{k}.weight"] + p[f"hidden.{k}.bias"]
        if k > 0:
            for s, hs in enumerate(src):
                z = z + hs[k - 1] @ p[f"hidden.{k}.lateral.{s}"]  # layer k-1 of column s -> layer k
        a = act(z)
        h.append(a if keep is None else a * keep[f, k])
    return h


def test_every_allowed_activation_has_its_torch_function():
    # config.py names them without torch (a spec check imports it); nets.py applies them.
    assert tuple(ACTIVATION_FNS) == ACTIVATIONS


def test_config_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, paragrid.models, paragrid.models.config; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def hand_logits(m: StackedModel, x: torch.Tensor, f: int, keep=None) -> torch.Tensor:
    p = {n: t[f] for n, t in m.params.items()}
    z = hand_hidden(m, x, f, keep)[-1] @ p["out.weight"] + p["out.bias"]
    for s, src in enumerate(m.sources):
        z = z + hand_hidden(src, x, f)[-1] @ p[f"out.lateral.{s}"]
    return z


def test_prognet_forward_is_the_papers_equation_with_two_sources_and_dropout_only_in_the_new_column():
    srcs = [source(1, width=5), source(2, width=7)]
    arch = Architecture(layers=3, width=9, activation="sigmoid", dropout=0.5)
    net = build_model("prognet", arch, N_IN, 3, srcs, seed=3, folds=range(N_FOLDS))
    # laterals exist from layer k of each source into layer k+1 only; the first layer sees only x
    assert "hidden.0.lateral.0" not in net.params
    assert net.params["hidden.1.lateral.1"].shape == (N_FOLDS, 7, 9)
    assert net.params["out.lateral.0"].shape == (N_FOLDS, 5, 3)
    x = torch.randn(N_FOLDS, 11, N_IN)
    keep = (torch.rand(N_FOLDS, 3, 11, 9) > 0.5).float() * 2
    got_train = forward(net, x, keep)
    got_eval = forward(net, x)
    for f in range(N_FOLDS):
        torch.testing.assert_close(got_train[f], hand_logits(net, x[f], f, keep), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got_eval[f], hand_logits(net, x[f], f), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got_train, got_eval)  # dropout really acts while training


def test_outputs_are_logits_not_probabilities():
    net = build_model("dnn", Architecture(layers=2, width=8, activation="relu"), N_IN, 4, (), 0, range(N_FOLDS))
    logits = forward(net, torch.randn(N_FOLDS, 20, N_IN) * 3)
    assert (logits < 0).any()
    assert not torch.allclose(logits.sum(-1), torch.ones(N_FOLDS, 20))


def test_eval_mode_has_no_dropout_and_is_deterministic():
    net = build_model("prognet", Architecture(layers=3, width=8, dropout=0.5), N_IN, 3,
                      [source(4)], 0, range(N_FOLDS))
    x = np.random.default_rng(0).normal(size=(40, N_IN)).astype(np.float32)
    mask = np.ones((N_FOLDS, 40), bool)
    a, b = predict(net, x, mask), predict(net, x, mask)
    np.testing.assert_array_equal(a, b)
    hand = np.stack([hand_logits(net, torch.as_tensor(x), f).argmax(-1).numpy() for f in range(N_FOLDS)])
    np.testing.assert_array_equal(a, hand)
    # the frozen column's activations do not depend on anything but x
    h1 = hidden_states(net.sources[0], torch.as_tensor(x).expand(N_FOLDS, -1, -1))
    h2 = hidden_states(net.sources[0], torch.as_tensor(x).expand(N_FOLDS, -1, -1))
    assert all(torch.equal(u, v) for u, v in zip(h1, h2))


def test_ptft_copies_hidden_layers_and_gets_a_new_output_layer():
    src = source(5, width=8)
    arch = Architecture(layers=3, width=8, activation="tanh", dropout=0.2)
    net = build_model("ptft", arch, N_IN, 2, [src], seed=9, folds=range(N_FOLDS))
    for n, p in src.params.items():
        if n.startswith("hidden."):
            assert torch.equal(net.params[n], p)
            assert net.params[n].data_ptr() != p.data_ptr()  # a copy, not shared storage
    assert net.params["out.weight"].shape == (N_FOLDS, 8, 2)
    assert net.sources == ()


def test_fold_weights_do_not_depend_on_which_folds_are_built():
    arch = Architecture(layers=2, width=8)
    all_folds = build_model("dnn", arch, N_IN, 3, (), 7, range(4))
    one = build_model("dnn", arch, N_IN, 3, (), 7, [2])
    for n in all_folds.params:
        assert torch.equal(all_folds.params[n][2], one.params[n][0])
    assert not torch.equal(all_folds.params["hidden.0.weight"][0], all_folds.params["hidden.0.weight"][1])


def test_save_load_round_trip_is_exact(tmp_path):
    net = build_model("prognet", Architecture(layers=3, width=8), N_IN, 3, [source(1), source(2, width=6)], 0,
                      range(N_FOLDS))
    net.class_names = ["angry", "happy", "sad"]
    path = tmp_path / "m.pt"
    net.save(path)
    back = StackedModel.load(path)
    assert (back.method, back.arch, back.n_in, back.n_classes, back.uid, back.class_names) == \
        (net.method, net.arch, net.n_in, net.n_classes, net.uid, net.class_names)
    assert back.params.keys() == net.params.keys()
    assert all(torch.equal(back.params[n], net.params[n]) for n in net.params)
    for s0, s1 in zip(net.sources, back.sources):
        assert s0.uid == s1.uid and all(torch.equal(s1.params[n], s0.params[n]) for n in s0.params)
    x = torch.randn(N_FOLDS, 5, N_IN)
    assert torch.equal(forward(back, x), forward(net, x))
    sub = net.select([2, 0])
    assert sub.n_folds == 2 and torch.equal(sub.params["out.weight"][0], net.params["out.weight"][2])
    assert torch.equal(sub.sources[1].params["out.weight"][1], net.sources[1].params["out.weight"][0])


def test_load_of_missing_or_foreign_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        StackedModel.load(tmp_path / "nope.pt")
    torch.save({"format": "something else"}, tmp_path / "x.pt")
    with pytest.raises(UserError, match="not a saved paragrid model"):
        StackedModel.load(tmp_path / "x.pt")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(UserError, match="cannot be read"):
        StackedModel.load(tmp_path / "bad.pt")


@pytest.mark.parametrize("kwargs, match", [
    (dict(activation="sigmiod"), "activation"),
    (dict(layers=0), "layers"),
    (dict(dropout=1.0), "dropout"),
])
def test_bad_architecture_is_a_user_error(kwargs, match):
    with pytest.raises(UserError, match=match):
        Architecture(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(optimizer="adamw"), "optimizer"),
    (dict(batch_size=0), "batch_size"),
    (dict(patience=0), "patience"),
    (dict(lr=0.0), "lr"),
])
def test_bad_settings_are_a_user_error(kwargs, match):
    with pytest.raises(UserError, match=match):
        TrainSettings(**kwargs)


def test_table1_defaults():
    assert Architecture() == Architecture(layers=4, width=256, activation="sigmoid", dropout=0.5)
    s = TrainSettings()
    assert (s.lr, s.optimizer, s.batch_size, s.max_epochs, s.patience) == (5e-4, "adam", 256, 600, None)


@pytest.mark.parametrize("method, sources, arch, match", [
    ("dnn", "one", Architecture(layers=3, width=5), "takes no source"),
    ("ptft", "two", Architecture(layers=3, width=5, activation="tanh"), "exactly one source"),
    ("prognet", "none", Architecture(layers=3, width=5), "at least one source"),
    ("ptft", "one", Architecture(layers=3, width=6, activation="tanh"), "must match"),
    ("ptft", "one", Architecture(layers=3, width=5, activation="relu"), "must match"),
    ("prognet", "one", Architecture(layers=2, width=5), "same depth"),
    ("lstm", "none", Architecture(layers=3, width=5), "unknown"),
])
def test_misuse_is_a_user_error(method, sources, arch, match):
    srcs = {"none": [], "one": [source(1)], "two": [source(1), source(2)]}[sources]
    with pytest.raises(UserError, match=match):
        build_model(method, arch, N_IN, 3, srcs, 0, range(N_FOLDS))


def test_source_with_other_inputs_or_fold_count_is_a_user_error():
    with pytest.raises(UserError, match="input features"):
        build_model("prognet", Architecture(layers=3), N_IN + 1, 3, [source(1)], 0, range(N_FOLDS))
    with pytest.raises(UserError, match="folds"):
        build_model("prognet", Architecture(layers=3), N_IN, 3, [source(1)], 0, range(N_FOLDS + 1))

