"""The forgetting probe: written-out gradient vs autograd + torch.optim.Adam, same algorithm.

Why: every transfer trial fits a linear probe per source (models/probe.py: 300 full-batch Adam
steps of multinomial logistic regression per fold-model), and in a grid of tiny trials that
probe was 85 % of a pack's time. This script times the probe as it is (classes on the middle
axis, the gradient (softmax - one-hot) / n written out, torch's functional Adam) against the
textbook form it replaced (cross-entropy and backward through autograd, torch.optim.Adam, the
classes on the last axis), on the same standardised problem, and checks in float64 that both
are the same algorithm (weights equal to ~1e-9: in float32, Adam's normalised steps amplify
rounding, so the two differ by ~1e-2 in the weights there).

The default size is one pack of the scale-probe grid: 620 fold-models (62 trials x 10 folds),
810 training rows each, a last hidden layer of 8 units, 4 classes.

Run: .venv/bin/python bench/probe_speed.py [--folds 620 --rows 810 --width 8 --classes 4] [--record]
"""
from __future__ import annotations

import benchlib


def parse_args(argv=None):
    ap = benchlib.parser(__doc__)
    ap.add_argument("--folds", type=int, default=620)
    ap.add_argument("--rows", type=int, default=810)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    return ap.parse_args(argv)


def textbook_probe(h, y, valid, n_classes, steps, lr, l2):
    """The probe as first written: autograd through F.cross_entropy, torch.optim.Adam."""
    import torch
    import torch.nn.functional as F

    from paragrid.models.probe import _VAR_FLOOR

    v = valid.to(h.dtype).unsqueeze(-1)
    n = v.sum(1, keepdim=True).clamp(min=1)
    mean = (h * v).sum(1, keepdim=True) / n
    z = (h - mean) / torch.sqrt((((h - mean) ** 2) * v).sum(1, keepdim=True) / n + _VAR_FLOOR)
    n_folds, _, width = h.shape
    w = torch.zeros((n_folds, width, n_classes), dtype=h.dtype, requires_grad=True)
    b = torch.zeros((n_folds, 1, n_classes), dtype=h.dtype, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=lr)
    target = torch.where(valid, y, 0)
    for _ in range(steps):
        ce = F.cross_entropy(torch.baddbmm(b, z, w).flatten(0, 1), target.flatten(), reduction="none")
        loss = ((ce.view(valid.shape) * valid).sum(1) / n.view(n_folds)).sum() + 0.5 * l2 * (w ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach(), b.detach()


def problem(folds, rows, width, classes, dtype, seed=0):
    import torch

    g = torch.Generator().manual_seed(seed)
    h = torch.randn(folds, rows, width, generator=g, dtype=dtype) + 0.3 * torch.randn(folds, 1, width, generator=g,
                                                                                       dtype=dtype)
    y = torch.randint(0, classes, (folds, rows), generator=g)
    valid = torch.rand(folds, rows, generator=g) > 0.05
    return h, y, valid


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    from paragrid.models.probe import PROBE_L2, PROBE_LR, PROBE_STEPS, fit_probe

    info = benchlib.machine(threads=1)
    load0 = benchlib.load()
    with benchlib.contained(threads=1):
        h, y, valid = problem(args.folds, args.rows, args.width, args.classes, torch.float32)
        now, _ = benchlib.best_of(lambda: fit_probe(h, y, valid, args.classes), args.rounds)
        old, _ = benchlib.best_of(lambda: textbook_probe(h, y, valid, args.classes, PROBE_STEPS, PROBE_LR, PROBE_L2),
                                  args.rounds)
        h64, y64, v64 = problem(min(args.folds, 20), args.rows, args.width, args.classes, torch.float64, seed=1)
        p = fit_probe(h64, y64, v64, args.classes)
        w, b = textbook_probe(h64, y64, v64, args.classes, PROBE_STEPS, PROBE_LR, PROBE_L2)
        diff = max(float((p.weight - w).abs().max()), float((p.bias - b).abs().max()))
    body = benchlib.md_table(
        ["fold-models", "rows", "width", "classes", "written-out s", "autograd + torch.optim s", "speed-up",
         "float64 max |diff|"],
        [[args.folds, args.rows, args.width, args.classes, f"{now:.2f}", f"{old:.2f}", f"{old / now:.1f}x",
          f"{diff:.1e}"]])
    body += (f"\n\n{PROBE_STEPS} full-batch steps, best of {args.rounds} (after one untimed call), one thread; "
             "the float64 check on 20 fold-models.")
    result = {"folds": args.folds, "rows": args.rows, "width": args.width, "classes": args.classes,
              "written_out_s": now, "textbook_s": old, "speedup": old / now, "float64_max_diff": diff}
    benchlib.emit(benchlib.section("Forgetting probe: written-out gradient vs autograd", info, load0, benchlib.load(),
                                   body), result, args.record)
    return result


if __name__ == "__main__":
    main()
