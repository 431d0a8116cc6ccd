"""Plain-PyTorch evaluation attacks for the cross-check and the benchmark (no robustlab code).

Shared by bench/pytorch_crosscheck.py (robust accuracies to compare with robustlab's) and
bench/pytorch_eval_bench.py (the same work, timed). Written from the papers and from reading the
authors' reference implementation (fra31/auto-attack); none of its code is copied here.

- load_robustlab_model: a robustlab model directory (tfjs Layers format: <part>.json holds the
  network spec and the weights manifest, <part>.weights.bin the float32 weights in manifest
  order) as an nn.Sequential, parsed by hand.
- load_mnist_test: the first n test images/labels from the gzipped IDX files, pixels / 255.
- pgd_linf: Madry et al. 2018 (uniform random start in the ε-cube, sign-gradient steps on the
  cross-entropy, projection onto the ε-cube ∩ [0,1]); an example counts as broken as soon as
  one iterate is misclassified (that row then stops, as robustlab's batched attacks do).
- apgd: APGD-CE / APGD-T with the (targeted) DLR loss, Croce & Hein 2020, following
  autopgd_base.py step for step (momentum 0.75, checkpoints at p_j with the halving rule,
  restart from the best point, the same random-number draws in the same order).
- fab_t_linf: FAB-T (Croce & Hein 2020), L∞, targeted, with our own exact projection onto
  hyperplane ∩ box (sort the per-coordinate room, solve the piecewise-linear equation).
- square_linf: Square attack (Andriushchenko et al. 2020), L∞, margin loss, p schedule of the
  reference, one square per iteration shared by the batch (as the reference does).
- autoattack_standard: APGD-CE → APGD-T (9 targets) → FAB-T (9 targets) → Square (5000 queries),
  each on the points still robust.
"""
import gzip
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- model and data


class LeakyReLU02(nn.LeakyReLU):
    def __init__(self):
        super().__init__(0.2)


_ACT = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "leakyRelu": LeakyReLU02}


def load_robustlab_part(model_dir, part="model"):
    """One network of a robustlab model directory as an nn.Sequential (float32, eval mode)."""
    with open(os.path.join(model_dir, part + ".json")) as f:
        j = json.load(f)
    if j.get("format") != "layers-model":
        raise ValueError(f"{model_dir}/{part}.json: not a tfjs layers-model")
    spec = j["userDefinedMetadata"]["robustlab"]["spec"]
    entries = [e for g in j["weightsManifest"] for e in g["weights"]]
    raw = np.fromfile(os.path.join(model_dir, part + ".weights.bin"), dtype="<f4")
    want = sum(int(np.prod(e["shape"])) for e in entries)
    if raw.size != want:
        raise ValueError(f"{part}.weights.bin holds {raw.size} floats, manifest says {want}")
    tensors, off = {}, 0
    for e in entries:
        if e["dtype"] != "float32":
            raise ValueError(f"unsupported dtype {e['dtype']}")
        size = int(np.prod(e["shape"]))
        tensors[e["name"]] = raw[off : off + size].reshape(e["shape"])
        off += size
    layers, fan_in = [], spec["inputDim"]
    for i, l in enumerate(spec["layers"]):
        lin = nn.Linear(fan_in, l["units"])
        with torch.no_grad():
            # tfjs kernels are [fanIn, units]; nn.Linear's weight is [units, fanIn].
            lin.weight.copy_(torch.from_numpy(tensors[f"dense_{i}/kernel"].T.copy()))
            lin.bias.copy_(torch.from_numpy(tensors[f"dense_{i}/bias"].copy()))
        layers.append(lin)
        if l["activation"] != "linear":
            layers.append(_ACT[l["activation"]]())
        fan_in = l["units"]
    net = nn.Sequential(*layers).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def load_robustlab_model(model_dir):
    with open(os.path.join(model_dir, "robustlab.json")) as f:
        meta = json.load(f)
    if meta.get("kind") != "classifier" or meta.get("space") != "image":
        raise ValueError(
            f"{model_dir}: need an image-space classifier (got kind={meta.get('kind')}, "
            f"space={meta.get('space')})"
        )
    return load_robustlab_part(model_dir, "model"), meta


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist_test(data_dir, n, dataset="mnist"):
    d = os.path.join(data_dir, dataset)
    x = _read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"))[:n].reshape(n, -1)
    y = _read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))[:n]
    return (
        torch.from_numpy(x.astype(np.float32) / np.float32(255)),
        torch.from_numpy(y.astype(np.int64)),
    )


def predict(model, x, bs=2000):
    with torch.no_grad():
        return torch.cat([model(x[s : s + bs]).argmax(1) for s in range(0, len(x), bs)])


# ---------------------------------------------------------------- PGD (Madry et al. 2018)


def pgd_linf(model, x, y, eps, steps=100, step_size=None, restarts=1, seed=0, return_adv=False):
    """Robust flags (True = never misclassified) under PGD L∞ with `restarts` random starts.

    return_adv: also the points returned (each row's first adversarial iterate, else its last).
    """
    alpha = step_size if step_size is not None else 2.5 * eps / max(steps, 1)
    gen = torch.Generator().manual_seed(seed)
    robust = predict(model, x) == y
    x_adv = x.clone()
    for _ in range(restarts):
        idx = robust.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        x0, yy = x[idx], y[idx]
        xa = (x0 + (2 * torch.rand(x0.shape, generator=gen) - 1) * eps).clamp(0, 1)
        act = torch.arange(len(idx))  # rows of idx still being attacked
        for t in range(steps + 1):
            xa.requires_grad_(True)
            logits = model(xa)
            fooled = logits.detach().argmax(1) != yy[act]
            if t == steps or fooled.all():
                robust[idx[act[fooled]]] = False
                x_adv[idx[act]] = xa.detach()
                break
            # the step's own forward serves both the check and the gradient
            (g,) = torch.autograd.grad(F.cross_entropy(logits, yy[act], reduction="sum"), xa)
            xa = xa.detach()
            if fooled.any():
                robust[idx[act[fooled]]] = False
                x_adv[idx[act[fooled]]] = xa[fooled]
                keep = ~fooled
                act, xa, g = act[keep], xa[keep], g[keep]
            with torch.no_grad():
                x0a = x0[act]
                xa = torch.min(torch.max(xa + alpha * g.sign(), x0a - eps), x0a + eps).clamp(0, 1)
    return (robust, x_adv) if return_adv else robust


# ---------------------------------------------------------------- APGD (Croce & Hein 2020)


def _dlr_targeted(logits, y, y_target):
    s, _ = logits.sort(1)
    u = torch.arange(len(y))
    return -(logits[u, y] - logits[u, y_target]) / (s[:, -1] - 0.5 * (s[:, -3] + s[:, -4]) + 1e-12)


def _apgd_single_run(model, x, y, eps, n_iter, loss_fn, rho=0.75, drop_finished=False):
    """One APGD run (L∞) on all rows; returns the rows ever misclassified.

    loss_fn(logits, rows) gives the per-row loss of batch rows `rows`. drop_finished: a row
    leaves the batch at its first misclassified iterate (robustlab's APGD does this; every
    row's own trajectory and verdict are unchanged, as rows never interact after the start).
    Returns (rows ever misclassified, the points: each row's first misclassified iterate, else
    its best-loss point, as robustlab's APGD returns them).
    """
    n_iter_2 = max(int(0.22 * n_iter), 1)
    n_iter_min = max(int(0.06 * n_iter), 1)
    size_decr = max(int(0.03 * n_iter), 1)
    n = x.shape[0]
    rows = torch.arange(n)  # batch rows still attacked
    fooled_all = torch.zeros(n, dtype=torch.bool)
    x_out = x.clone()

    t = 2 * torch.rand(x.shape) - 1
    t = t / (t.abs().max(1, keepdim=True)[0] + 1e-12)
    x_adv = (x + eps * t).clamp(0.0, 1.0)
    x_best = x_adv.clone()
    loss_steps = torch.zeros(n_iter, n)

    def loss_grad(xa):
        xa = xa.clone().requires_grad_(True)
        logits = model(xa)
        li = loss_fn(logits, rows)
        (g,) = torch.autograd.grad(li.sum(), xa)
        return logits.detach(), li.detach(), g.detach()

    logits, loss_indiv, grad = loss_grad(x_adv)
    grad_best = grad.clone()
    acc = logits.argmax(1) == y
    x_out[~acc] = x_adv[~acc]
    loss_best = loss_indiv.clone()
    step_size = 2.0 * eps * torch.ones(n, 1)
    x_adv_old = x_adv.clone()
    k = n_iter_2
    counter3 = 0
    loss_best_last_check = loss_best.clone()
    reduced_last_check = torch.ones_like(loss_best)

    for i in range(n_iter):
        if drop_finished:
            fooled_all[rows[~acc]] = True
            keep = acc
            if not keep.all():
                rows = rows[keep]
                if rows.numel() == 0:
                    break
                x, y, x_adv, x_adv_old, x_best = x[keep], y[keep], x_adv[keep], x_adv_old[keep], x_best[keep]
                grad, grad_best, loss_best = grad[keep], grad_best[keep], loss_best[keep]
                loss_steps, step_size, acc = loss_steps[:, keep], step_size[keep], acc[keep]
                loss_best_last_check, reduced_last_check = loss_best_last_check[keep], reduced_last_check[keep]
        with torch.no_grad():
            grad2 = x_adv - x_adv_old
            x_adv_old = x_adv.clone()
            a = 0.75 if i > 0 else 1.0
            z = x_adv + step_size * grad.sign()
            z = torch.min(torch.max(z, x - eps), x + eps).clamp(0.0, 1.0)
            z = x_adv + (z - x_adv) * a + grad2 * (1 - a)
            x_adv = torch.min(torch.max(z, x - eps), x + eps).clamp(0.0, 1.0)

        logits, loss_indiv, grad = loss_grad(x_adv)
        newly = acc & (logits.argmax(1) != y)
        if newly.any():
            x_out[rows[newly]] = x_adv[newly]
        acc = acc & ~newly

        with torch.no_grad():
            loss_steps[i] = loss_indiv
            better = loss_indiv > loss_best
            x_best[better] = x_adv[better]
            grad_best[better] = grad[better]
            loss_best[better] = loss_indiv[better]
            counter3 += 1
            if counter3 == k:
                # oscillation: the loss rose in at most a fraction rho of the last k steps
                inc = torch.zeros(len(rows))
                for c5 in range(k):
                    inc += (loss_steps[i - c5] > loss_steps[i - c5 - 1]).float()
                fl_osc = (inc <= k * rho).float()
                fl_no_impr = (1.0 - reduced_last_check) * (loss_best_last_check >= loss_best).float()
                fl_osc = torch.max(fl_osc, fl_no_impr)
                reduced_last_check = fl_osc.clone()
                loss_best_last_check = loss_best.clone()
                if fl_osc.sum() > 0:
                    r = fl_osc > 0
                    step_size[r] /= 2.0
                    x_adv[r] = x_best[r]
                    grad[r] = grad_best[r]
                k = max(k - size_decr, n_iter_min)
                counter3 = 0
    if rows.numel():
        fooled_all[rows[~acc]] = True
        x_out[rows[acc]] = x_best[acc]
    return fooled_all, x_out


def apgd(model, x, y, eps, n_iter=100, restarts=1, seed=0, loss="ce", n_target_classes=9,
         robust=None, drop_finished=False, return_adv=False):
    """APGD-CE (loss='ce') or APGD-T (loss='dlr-targeted') L∞; returns robust flags (and, with
    return_adv, the points returned).

    Restarts/targets run on the points still robust; the seed is set once, before them, as in
    the reference's perturb().
    """
    robust = (predict(model, x) == y) if robust is None else robust.clone()
    x_adv = x.clone()
    torch.manual_seed(seed)
    if loss == "ce":
        rounds = [None] * restarts
    else:
        rounds = [tc for tc in range(2, n_target_classes + 2) for _ in range(restarts)]
    for target_class in rounds:
        idx = robust.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        xs, ys = x[idx], y[idx]
        if loss == "ce":
            fn = lambda lg, rows, yy=ys: F.cross_entropy(lg, yy[rows], reduction="none")  # noqa: E731
        else:
            with torch.no_grad():
                y_target = model(xs).sort(1)[1][:, -target_class]
            fn = lambda lg, rows, yy=ys, yt=y_target: _dlr_targeted(lg, yy[rows], yt[rows])  # noqa: E731
        fooled, xo = _apgd_single_run(model, xs, ys, eps, n_iter, fn, drop_finished=drop_finished)
        robust[idx[fooled]] = False
        x_adv[idx] = xo
    return (robust, x_adv) if return_adv else robust


# ---------------------------------------------------------------- FAB-T (Croce & Hein 2020)


def project_linf_box(t, w, b):
    """Per row: the d of least ‖d‖∞ with w·(t+d) = b and t+d ∈ [0,1].

    With c = b − w·t made ≥ 0 (flip w), the largest w·d reachable at ‖d‖∞ ≤ ρ is
    f(ρ) = Σ|w_i|·min(ρ, room_i) (room_i = distance to the box face w_i points to), piecewise
    linear and increasing: sort the rooms and solve f(ρ) = c on the right piece. If the box
    cannot reach the hyperplane, the box corner that gets closest (every room used), as the
    reference does.
    """
    c = b - (w * t).sum(1)
    sgn = torch.where(c >= 0, 1.0, -1.0)
    w = w * sgn[:, None]
    c = c * sgn
    aw = w.abs()
    room = torch.where(w > 0, 1 - t, t)
    room = torch.where(aw > 0, room, torch.zeros_like(room))
    rs, order = room.sort(1)
    ws = aw.gather(1, order)
    cum_wr = (ws * rs).cumsum(1)
    cum_w = ws.cumsum(1)
    total_w = cum_w[:, -1:]
    f = cum_wr + rs * (total_w - cum_w)  # f at ρ = rs[:, k]
    k = (f < c[:, None]).sum(1)  # first breakpoint where f ≥ c
    feasible = k < f.shape[1]
    km1 = (k - 1).clamp(min=0)
    A = torch.where(k > 0, cum_wr.gather(1, km1[:, None]).squeeze(1), torch.zeros_like(c))
    B = torch.where(k > 0, (total_w - cum_w.gather(1, km1[:, None])).squeeze(1), total_w.squeeze(1))
    rho = torch.where(feasible, (c - A) / B.clamp(min=1e-30), torch.full_like(c, float("inf")))
    return torch.min(rho[:, None], room) * torch.sign(w)


def _fab_t_single_run(model, x, y, y_target, eps, n_iter=100, alpha_max=0.1, eta=1.05, beta=0.9):
    """Targeted FAB, no random start (1 restart); returns (best adv, its L∞ distance, 1e10 = none)."""
    n = x.shape[0]
    u = torch.arange(n)
    x1 = x.clone()
    adv = x.clone()
    res2 = torch.full((n,), 1e10)
    for _ in range(n_iter):
        xg = x1.clone().requires_grad_(True)
        lg = model(xg)
        diff = lg[u, y_target] - lg[u, y]  # < 0 while not adversarial for the target
        (dg,) = torch.autograd.grad(diff.sum(), xg)
        with torch.no_grad():
            df = diff.detach()
            b = -df + (dg * x1).sum(1)
            d3 = project_linf_box(torch.cat((x1, x), 0), torch.cat((dg, dg), 0), torch.cat((b, b), 0))
            d1, d2 = d3[:n], d3[n:]
            a0 = d3.abs().max(1, keepdim=True)[0].clamp(min=1e-8)
            a1, a2 = a0[:n], a0[n:]
            alpha = (a1 / (a1 + a2)).clamp(0.0, alpha_max)
            x1 = ((x1 + eta * d1) * (1 - alpha) + (x + d2 * eta) * alpha).clamp(0.0, 1.0)
            is_adv = model(x1).argmax(1) != y
            if is_adv.any():
                dist = (x1 - x).abs().max(1)[0]
                better = is_adv & (dist < res2)
                adv[better] = x1[better]
                res2[better] = dist[better]
                x1[is_adv] = x[is_adv] + (x1[is_adv] - x[is_adv]) * beta
    return adv, res2


def fab_t_linf(model, x, y, eps, n_iter=100, n_target_classes=9, seed=0, robust=None,
               return_adv=False):
    robust = (predict(model, x) == y) if robust is None else robust.clone()
    x_adv = x.clone()
    torch.manual_seed(seed)
    for target_class in range(2, n_target_classes + 2):
        idx = robust.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        xs, ys = x[idx], y[idx]
        with torch.no_grad():
            y_target = model(xs).sort(1)[1][:, -target_class]
        adv, _ = _fab_t_single_run(model, xs, ys, y_target, eps, n_iter)
        with torch.no_grad():
            ok = (model(adv).argmax(1) != ys) & ((adv - xs).abs().max(1)[0] <= eps)
        robust[idx[ok]] = False
        x_adv[idx[ok]] = adv[ok]
    return (robust, x_adv) if return_adv else robust


# ---------------------------------------------------------------- Square (Andriushchenko et al. 2020)


def _p_selection(p_init, it):
    for bound, div in ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64),
                       (6000, 128), (8000, 256)):
        if it <= bound:
            return p_init / div
    return p_init / 512


def square_linf(model, x, y, eps, n_queries=5000, p_init=0.8, seed=0, side=28, robust=None,
                return_adv=False):
    """Square L∞ on [n, side²] images (one channel); returns robust flags (and, with return_adv,
    the points returned: each row's best query)."""
    robust = (predict(model, x) == y) if robust is None else robust.clone()
    x_adv = x.clone()
    torch.manual_seed(seed)
    idx = robust.nonzero().squeeze(1)
    if idx.numel() == 0:
        return (robust, x_adv) if return_adv else robust
    h = w = side
    xs = x[idx].view(-1, 1, h, w)
    ys = y[idx]
    u = torch.arange(len(idx))

    def margin(xx, yy):
        with torch.no_grad():
            lg = model(xx.reshape(xx.shape[0], -1))
        uu = torch.arange(len(yy))
        corr = lg[uu, yy].clone()
        lg[uu, yy] = -float("inf")
        return corr - lg.max(1)[0]

    sign = lambda shape: torch.sign(2 * torch.rand(shape) - 1)  # noqa: E731
    # vertical stripes of ±ε as the starting point
    x_best = (xs + eps * sign([len(idx), 1, 1, w])).clamp(0.0, 1.0)
    margin_min = margin(x_best, ys)
    del u
    for i_iter in range(n_queries):
        todo = (margin_min > 0).nonzero().squeeze(1)
        if todo.numel() == 0:
            break
        x_curr, xb_curr, y_curr = xs[todo], x_best[todo], ys[todo]
        m_curr = margin_min[todo]
        p = _p_selection(p_init, i_iter)
        s = min(max(int(round(math.sqrt(p * h * w))), 1), h)
        vh = int(torch.rand(1).item() * (h - s))
        vw = int(torch.rand(1).item() * (w - s))
        delta = torch.zeros(1, h, w)
        delta[:, vh : vh + s, vw : vw + s] = 2.0 * eps * sign([1, 1, 1])
        x_new = torch.min(torch.max(xb_curr + delta, x_curr - eps), x_curr + eps).clamp(0.0, 1.0)
        m = margin(x_new, y_curr)
        improved = (m < m_curr) | (m <= 0)
        margin_min[todo] = torch.where(improved, m, m_curr)
        x_best[todo] = torch.where(improved[:, None, None, None], x_new, xb_curr)
    robust[idx[margin_min <= 0]] = False
    x_adv[idx] = x_best.reshape(len(idx), -1)
    return (robust, x_adv) if return_adv else robust


# ---------------------------------------------------------------- the standard cascade


def autoattack_standard(model, x, y, eps, seed=0, n_iter=100, square_queries=5000, log=None,
                        drop_finished=False):
    """Robust flags after each stage of AutoAttack's standard L∞ version, and the final ones.

    Each stage is judged on the points it returns (a forward pass on the rows it attacked), as
    fra31/auto-attack's run_standard_evaluation does and robustlab's evaluateRobustness does.
    """
    robust = predict(model, x) == y
    acc = {"clean": robust.float().mean().item()}
    d = drop_finished
    stages = [
        ("apgd-ce", lambda r: apgd(model, x, y, eps, n_iter, 1, seed, "ce", robust=r, drop_finished=d,
                                   return_adv=True)),
        ("apgd-t", lambda r: apgd(model, x, y, eps, n_iter, 1, seed, "dlr-targeted", 9, robust=r,
                                  drop_finished=d, return_adv=True)),
        ("fab-t", lambda r: fab_t_linf(model, x, y, eps, n_iter, 9, seed, robust=r, return_adv=True)),
        ("square", lambda r: square_linf(model, x, y, eps, square_queries, seed=seed, robust=r,
                                         return_adv=True)),
    ]
    for name, run in stages:
        if robust.any():
            idx = robust.nonzero().squeeze(1)
            _, x_adv = run(robust)
            robust[idx] = predict(model, x_adv[idx]) == y[idx]
        acc[name] = robust.float().mean().item()
        if log:
            log(f"{name}: robust accuracy {acc[name]:.4f}")
    return robust, acc
