"""The same workloads as bench/stages.ts, in plain PyTorch, for a side-by-side comparison.

Same shapes, batch sizes, steps and optimiser (Adam, lr 1e-3 for training, 0.1 for projection;
the attack is robustlab's default, normalised gradient descent with step 0.05 and lambda 0.01). Prints one JSON object: {stage name: median seconds}. Data: random
tensors of the real shapes (the work does not depend on pixel values), so it needs no files.
Usage: python3 bench/pytorch_bench.py [repeats] [stage|stage...] [--probe FRAC]
  --probe FRAC: each stage once (after one warm-up) at FRAC of its work (batches, steps), to
  find the fastest thread setting cheaply before timing the full stages in that setting.
"""
import json
import os
import sys
import time

# Debian's torch multiplies matrices in OpenBLAS (pthread build), whose thread pool ignores
# torch.set_num_threads: size it (and OpenMP's) to the same count before torch loads it.
THREADS = int(os.environ.get("TORCH_THREADS", os.cpu_count() or 1))
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_v, str(THREADS))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.manual_seed(0)
# Use every core of the machine (2 here), as robustlab's workers do.
torch.set_num_threads(THREADS)
REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 and not sys.argv[1].startswith('-') else 3
X = torch.rand(60000, 784)
Y = torch.randint(0, 10, (60000,))


def median_time(fn, warmup=1, frac=1.0, repeats=None):
    for _ in range(warmup):
        fn(frac)
    runs = []
    for _ in range(REPEATS if repeats is None else repeats):
        t = time.perf_counter()
        fn(frac)
        runs.append(time.perf_counter() - t)
    runs.sort()
    return runs[len(runs) // 2]


def mlp(dims, acts):
    layers = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if acts[i] == "relu":
            layers.append(nn.ReLU())
        elif acts[i] == "leaky":
            layers.append(nn.LeakyReLU(0.2))
        elif acts[i] == "sigmoid":
            layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


ARCHS = {
    "1L": ([784, 256, 10], ["lin", "lin"]),
    "2L": ([784, 256, 256, 10], ["lin", "lin", "lin"]),
    "LRL": ([784, 256, 256, 256, 10], ["lin", "relu", "lin", "lin"]),
}


CODES = torch.randn(60000, 32)


def classifier_epoch(arch, dim=784):
    x_all = X if dim == 784 else CODES
    dims, acts = ARCHS[arch]

    def run(frac=1.0):
        model = mlp([dim] + dims[1:], acts)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        perm = torch.randperm(60000)
        for s in range(0, max(1000, int(60000 * frac)), 1000):
            idx = perm[s : s + 1000]
            opt.zero_grad()
            loss = F.cross_entropy(model(x_all[idx]), Y[idx])
            loss.backward()
            opt.step()
    return run


def heads_epoch(together):
    """The three heads on 32-d codes: one after the other, or in lockstep on one gathered batch."""
    def run(frac=1.0):
        models = [mlp([32] + ARCHS[a][0][1:], ARCHS[a][1]) for a in ("1L", "2L", "LRL")]
        opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in models]
        steps = range(0, max(1000, int(60000 * frac)), 1000)

        def step(m, opt, x, y):
            opt.zero_grad()
            F.cross_entropy(m(x), y).backward()
            opt.step()

        if together:
            perm = torch.randperm(60000)
            for s in steps:
                idx = perm[s : s + 1000]
                x, y = CODES[idx], Y[idx]
                for m, opt in zip(models, opts):
                    step(m, opt, x, y)
        else:
            for m, opt in zip(models, opts):
                perm = torch.randperm(60000)
                for s in steps:
                    idx = perm[s : s + 1000]
                    step(m, opt, CODES[idx], Y[idx])
    return run


def generator_epoch(kind):
    def run(frac=1.0):
        if kind == "ae":
            enc, dec = mlp([784, 32], ["leaky"]), mlp([32, 784], ["lin"])
        else:
            enc, dec = mlp([784, 150, 64], ["leaky", "lin"]), mlp([32, 150, 784], ["leaky", "lin"])
        opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3)
        perm = torch.randperm(60000)
        for s in range(0, max(256, int(60000 * frac)), 256):
            x = X[perm[s : s + 256]]
            opt.zero_grad()
            h = enc(x)
            if kind == "ae":
                loss = F.binary_cross_entropy_with_logits(dec(h), x, reduction="sum") / x.shape[0]
            else:
                mu, logvar = h[:, :32], h[:, 32:]
                z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
                rec = F.binary_cross_entropy_with_logits(dec(z), x, reduction="sum")
                kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
                loss = (rec + kl) / x.shape[0]
            loss.backward()
            opt.step()
    return run


def projection(kind):
    dec = mlp([32, 784], ["sigmoid"]) if kind == "ae" else mlp([32, 150, 784], ["leaky", "sigmoid"])
    for p in dec.parameters():
        p.requires_grad_(False)
    x_all = X[:2000]

    def run(frac=1.0):
        for s in (0, 1000):
            x = x_all[s : s + 1000]
            z = torch.randn(1000, 32, requires_grad=True)
            opt = torch.optim.Adam([z], lr=0.1)
            for _ in range(max(1, int(500 * frac))):
                opt.zero_grad()
                loss = ((dec(z) - x) ** 2).sum()
                loss.backward()
                opt.step()
    return run


def attack():
    model = mlp(*ARCHS["2L"])
    for p in model.parameters():
        p.requires_grad_(False)
    x0 = X[:180].clone()
    goals = torch.randint(0, 10, (180,))

    def run(frac=1.0):
        # robustlab's default attack: normalised gradient descent (each row steps 0.05 in L2
        # along its own gradient), lambda 0.01, box [0, 1] (src/attacks/targeted-ce-l2.ts)
        x = x0.clone().requires_grad_(True)
        for _ in range(max(1, int(100 * frac))):
            logits = model(x)
            # success check, as robustlab does every step
            _ = F.softmax(logits, 1).gather(1, goals[:, None]) >= 1.0
            loss = F.cross_entropy(logits, goals, reduction="sum") + 0.01 * torch.sqrt(((x - x0) ** 2).sum(1) + 1e-12).sum()
            (g,) = torch.autograd.grad(loss, x)
            with torch.no_grad():
                x -= 0.05 * g / torch.sqrt((g * g).sum(1, keepdim=True) + 1e-30)
                x.clamp_(0, 1)
    return run


def svd_sweep():
    model = mlp(*ARCHS["2L"])
    ws = [m.weight.detach().double() for m in model if isinstance(m, nn.Linear)]

    def run(frac=1.0):  # small: always the whole sweep
        svds = [torch.linalg.svd(w, full_matrices=False) for w in ws]
        for k in range(20):
            f = k * 0.05
            for u, s, vh in svds:
                s2 = s.clone()
                n = min(len(s2), int(f * len(s2) + 0.5 + 1e-9))
                if n:
                    s2[len(s2) - n :] *= 0.1
                _ = (u * s2) @ vh
    return run


STAGES = {
    "epoch 1L (60k, batch 1000)": classifier_epoch("1L"),
    "epoch 2L (60k, batch 1000)": classifier_epoch("2L"),
    "epoch LRL (60k, batch 1000)": classifier_epoch("LRL"),
    "epoch 1L on 32-d codes (60k, batch 1000)": classifier_epoch("1L", 32),
    "epoch 2L on 32-d codes (60k, batch 1000)": classifier_epoch("2L", 32),
    "epoch LRL on 32-d codes (60k, batch 1000)": classifier_epoch("LRL", 32),
    "epoch 1L+2L+LRL on 32-d codes, one at a time (60k, batch 1000)": heads_epoch(False),
    "epoch 1L+2L+LRL on 32-d codes, batched (60k, batch 1000)": heads_epoch(True),
    "epoch AE (60k, batch 256)": generator_epoch("ae"),
    "epoch VAE (60k, batch 256)": generator_epoch("vae"),
    "projection AE (2000 img × 500 steps)": projection("ae"),
    "projection VAE (2000 img × 500 steps)": projection("vae"),
    "attack 180 examples × 100 steps on 2L": attack(),
    "SVD sweep of 2L (20 fractions)": svd_sweep(),
}

args = [a for a in sys.argv[1:]]
probe = None
if "--probe" in args:
    i = args.index("--probe")
    probe = float(args[i + 1])
    del args[i : i + 2]
only = set(args[1].split("|")) if len(args) > 1 and args[1] else None
out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "seconds": {}}
for name, fn in STAGES.items():
    if only and name not in only:
        continue
    if probe is not None:
        out["seconds"][name] = median_time(fn, warmup=1, frac=probe, repeats=1)
    else:
        out["seconds"][name] = median_time(fn)
print(json.dumps(out))
