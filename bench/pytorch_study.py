"""robustlab's whole study (`robustlab reproduce --preset paper`) redone in plain PyTorch and timed
stage by stage. It gives the "PyTorch total for the same stages" figure to set beside robustlab's
full reproduction time.

What it is
  The same stage graph as src/experiments/stages.ts (buildGraph), with the same stage names, run in
  the same dependency order. Each stage does the same work as robustlab's job for that stage: same
  data (real MNIST / Fashion-MNIST, pixels in [0, 1], the first limitTrain / limitTest examples
  when the preset sets limits), same shapes, batch sizes, epochs, steps, optimisers, number of
  attacked examples, SVD fractions and re-attacks:
    classifier/D/S/A   1L / 2L / LRL MLP (hidden = preset.hidden, PyTorch's default nn.Linear
                       initialisation, as robustlab's), Adam lr 1e-3, batch 1000, seeded shuffling,
                       last partial batch kept; then train and test accuracy (batches of 2000).
                       Image space: 784 inputs; latent spaces: the 32-d codes of the codes stage.
    generator/D/K      AE 784-32 (leaky ReLU 0.2) / 32-784 (sigmoid); VAE 784-150 (leaky ReLU)-64
                       (μ, log σ²) / 32-150 (leaky ReLU)-784 (sigmoid); BCE summed over pixels (from
                       the pre-sigmoid output) + KL for the VAE, batch mean; Adam lr 1e-3,
                       batch 256.
                       Then encoder codes of the test set and their L2 reconstruction error.
    codes/D/M          codes for the train and test splits: E(x), μ + σ·ε (one sample), or
                       projection argmin_z ||D(z) − x||² by Adam (lr 0.1, projectionSteps steps,
                       batches of 1000, z0 ~ N(0, I)); 5000-image chunks as robustlab; then the
                       reconstruction error of the codes and, for projections, of encoder codes.
    attack/D/S/A/mode  the targeted CE + λ·L2 attack (normalised gradient descent, step 0.05,
                       λ 0.01, until p(goal) ≥ 0.95 or maxSteps) on attackCount correctly classified
                       test inputs × 9 goals (20 × 9 = 180 for paper), the whole batch at once,
                       each row dropped when it succeeds, success checked before every step.
                       own-space: in the model's own space (pixels clamped to [0, 1]; codes
                       unclamped). pixel-space: image → code → class in pixels: encoder spaces
                       differentiated end to end (VAE: a fresh noise sample on every call);
                       projection spaces with robustlab's implicit Gauss–Newton gradient: before
                       every check/step the iterate is projected (10 Adam steps warm-started from
                       the previous z⋆ when the batch rows did not change, else 50 steps from
                       E(x)), J = ∂D/∂z by central differences (64 decoder rows per example), and
                       ∂L/∂x = J (JᵀJ + damping)⁻¹ ∂L/∂z, solved per example in float64. The final
                       re-evaluation of xAdv and the success re-check each run a full 500-step
                       projection from a random start (robustlab's default, whatever the preset).
    transfer/D/A       the successful adversarial images of attack/D/image/A/own-space through the
                       12 latent classifiers (image → code by each space's own method, projections
                       with a full 500-step projection), batches of 1000.
    svd/D/mode         float64 SVD of every weight matrix of classifier/D/image/2L, then for each
                       fraction: bottom round(f·count) σ zeroed / scaled by 0.1, rebuilt as
                       W + rank-k correction (or from the top part, whichever is cheaper, as
                       robustlab), adversarial accuracy on the 2L attack's successes, re-attack of
                       reattackCount inputs × 9 goals (when > 0), train and test accuracy.

What differs from robustlab (all deliberate, none changes the amount of arithmetic much)
  * Nothing is written to disk: models, codes and adversarial examples stay in memory (robustlab
    saves weights, code files in resumable chunks and attack files, and reloads them in the next
    stage). Datasets are read and decoded once per dataset, not once per stage; that time is
    reported as "dataLoadSeconds", outside "seconds" and "total" but inside "wall".
  * Random numbers come from torch's generator (seeded per stage with torch.manual_seed), not
    robustlab's own; so initial weights, shuffles, projection starts, VAE noise and the chosen
    attack examples differ, and accuracies / step counts will be close to robustlab's, not equal.
    Attacks still early-stop on the trained models, so their cost depends on the model, as there.
  * SVD: LAPACK (torch.linalg.svd, float64) instead of robustlab's QR + one-sided Jacobi (or its
    native LAPACK provider); per-example SPD solves via torch.linalg.cholesky in float64 instead of
    a hand-written host Cholesky.
  * Scheduling: robustlab runs the graph on `workers` (default: cores = 2) worker threads, one
    single-threaded wasm backend each, so two stages run at once and each stage's seconds are
    single-core seconds. Here the stages run one after another, each with --threads intra-op
    threads (default 2; the script also sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS to N before
    loading torch, since Debian's torch multiplies matrices in OpenBLAS, whose thread pool
    ignores torch.set_num_threads). Compare "total" with robustlab's totalStageSeconds only as
    "sum of stage times", and "wall" with robustlab's wall clock of a fresh reproduce.

Run (the paper preset, both datasets; extrapolated from small runs: about 35-40 min with
--threads 1 on this 2-core machine, most of it latent classifiers (150 epochs × 12 per dataset)
and projections; see --preset smoke for a quick check):
  /usr/bin/python3 bench/pytorch_study.py --out bench/results/pytorch-study.json
Quick check:
  nice -n 19 /usr/bin/python3 bench/pytorch_study.py --preset smoke --threads 1 --out /tmp/s.json
Options: --datasets mnist,fashion-mnist  --threads N  --preset paper|quick|smoke
  --set key=value (override a preset field, e.g. --set reattackCount=1, --set limitTrain=2000)
  --only-stages PREFIX[,PREFIX...] (run those stages and, untimed in "seconds", what they need)
  --data-dir DIR (default: ../shared/datasets relative to the repository)  --seed N
Output JSON: {"torch", "threads", "preset", "settings", "seconds": {stage: s}, "total", "wall",
  "dataLoadSeconds", "dependencySeconds", "results": {stage: small summary}}, rewritten atomically
  after every stage.
"""
import argparse
import gzip
import json
import math
import os
import sys
import tempfile
import time
import zlib


def _threads_from_argv(default=2):
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return str(default)


# Debian's torch does its matmuls in OpenBLAS (pthread build), whose thread pool ignores
# torch.set_num_threads: size it (and OpenMP's) before numpy / torch load it.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = _threads_from_argv()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# ----------------------------------------------------------------------------- settings

def frange(a, step, b):
    return [round((a + k * step) * 1e6) / 1e6 for k in range(round((b - a) / step) + 1)]


PRESETS = {  # src/experiments/presets.ts
    "paper": dict(limitTrain=None, limitTest=None, imageEpochs=50, latentEpochs=150,
                  generatorEpochs=30, projectionSteps=500, attackCount=20, attackMaxSteps=1000,
                  fractions=frange(0, 0.05, 0.95), reattackCount=5, hidden=256),
    "quick": dict(limitTrain=6000, limitTest=1000, imageEpochs=8, latentEpochs=30,
                  generatorEpochs=8, projectionSteps=100, attackCount=4, attackMaxSteps=500,
                  fractions=frange(0, 0.1, 0.9), reattackCount=1, hidden=256),
    "smoke": dict(limitTrain=1000, limitTest=200, imageEpochs=2, latentEpochs=3,
                  generatorEpochs=1, projectionSteps=10, attackCount=1, attackMaxSteps=100,
                  fractions=[0, 0.4], reattackCount=0, hidden=32),
}
ARCHS = ["1L", "2L", "LRL"]
LATENT_METHODS = ["ae-encoding", "ae-projection", "vae-encoding", "vae-projection"]
NUM_CLASSES = 10
LATENT_DIM = 32
VAE_HIDDEN = 150
LEAKY = 0.2
CLASSIFIER_BATCH, CLASSIFIER_LR = 1000, 1e-3
GENERATOR_BATCH, GENERATOR_LR = 256, 1e-3
PROJECTION_LR, PROJECTION_DEFAULT_STEPS = 0.1, 500  # the pipeline's full projection: always 500
CODE_CHUNK, PROJECTION_BATCH, ENCODING_BATCH = 5000, 1000, 5000
ATTACK = dict(lam=0.01, step=0.05, confidence=0.95)  # TARGETED_CE_L2_DEFAULTS (ngd)
PREPARE_COLD_STEPS, PREPARE_WARM_STEPS, FD_EPS = 50, 10, 1e-2
SCALE_FACTOR = 0.1
FILES = {"mnist": "mnist", "fashion-mnist": "fashion-mnist"}


def is_projection(m):
    return m.endswith("projection")


def method_generator(m):
    return "vae" if m.startswith("vae") else "ae"


# ----------------------------------------------------------------------------- data

def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_dataset(data_dir, name):
    d = os.path.join(data_dir, FILES[name])
    out = {}
    for split, stem in (("train", "train"), ("test", "t10k")):
        x = read_idx(os.path.join(d, f"{stem}-images-idx3-ubyte.gz")).reshape(-1, 784)
        y = read_idx(os.path.join(d, f"{stem}-labels-idx1-ubyte.gz"))
        out[split] = (torch.from_numpy(x.astype(np.float32) / 255.0),
                      torch.from_numpy(y.astype(np.int64)))
    return out


def limited(ds, p):
    """The first limitTrain / limitTest examples, as robustlab's loadDataset."""
    lt, ls = p["limitTrain"], p["limitTest"]
    (xtr, ytr), (xte, yte) = ds["train"], ds["test"]
    return {"train": (xtr[:lt] if lt else xtr, ytr[:lt] if lt else ytr),
            "test": (xte[:ls] if ls else xte, yte[:ls] if ls else yte)}


# ----------------------------------------------------------------------------- models

def classifier(arch, d, h):
    if arch == "1L":
        layers = [nn.Linear(d, h), nn.Linear(h, NUM_CLASSES)]
    elif arch == "2L":
        layers = [nn.Linear(d, h), nn.Linear(h, h), nn.Linear(h, NUM_CLASSES)]
    else:  # LRL: d → h → h (ReLU) → h → 10
        layers = [nn.Linear(d, h), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h),
                  nn.Linear(h, NUM_CLASSES)]
    return nn.Sequential(*layers)


def linears(model):
    return [m for m in model if isinstance(m, nn.Linear)]


class Generator(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        if kind == "ae":
            self.encoder = nn.Sequential(nn.Linear(784, LATENT_DIM), nn.LeakyReLU(LEAKY))
            self.decoder = nn.Sequential(nn.Linear(LATENT_DIM, 784))  # pre-sigmoid
        else:
            self.encoder = nn.Sequential(nn.Linear(784, VAE_HIDDEN), nn.LeakyReLU(LEAKY),
                                         nn.Linear(VAE_HIDDEN, 2 * LATENT_DIM))
            self.decoder = nn.Sequential(nn.Linear(LATENT_DIM, VAE_HIDDEN), nn.LeakyReLU(LEAKY),
                                         nn.Linear(VAE_HIDDEN, 784))

    def stats(self, x):
        h = self.encoder(x)
        if self.kind == "ae":
            return h, None
        return h[:, :LATENT_DIM], h[:, LATENT_DIM:]

    def encode_mean(self, x):
        return self.stats(x)[0]

    def encode_sample(self, x):
        mu, logvar = self.stats(x)
        if logvar is None:
            return mu
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode(self, z):
        return torch.sigmoid(self.decoder(z))

    def loss(self, x):
        mu, logvar = self.stats(x)
        if logvar is None:
            rec = F.binary_cross_entropy_with_logits(self.decoder(mu), x, reduction="none").sum(1)
            return rec.mean()
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="none").sum(1)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), 1)
        return (rec + kl).mean()


def freeze(m):
    for q in m.parameters():
        q.requires_grad_(False)
    return m


def fit(params, x, y, loss_fn, epochs, batch, lr):
    """src/models/train.ts fit: Adam, seeded shuffle, last partial batch kept."""
    opt = torch.optim.Adam(params, lr=lr)
    n = x.shape[0]
    losses = []
    for epoch in range(epochs):
        perm = torch.randperm(n)
        total = 0.0
        for s in range(0, n, batch):
            idx = perm[s: s + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(x[idx], None if y is None else y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * idx.shape[0]
        mean = total / n
        if not math.isfinite(mean):
            raise RuntimeError(f"training diverged at epoch {epoch + 1} (loss {mean})")
        losses.append(mean)
    return losses


# ----------------------------------------------------------------------------- projection

def project(gen, x, steps, init=None):
    """codes.ts projectBatch, L2: Adam (lr 0.1) on z for sum ||D(z) − x||²."""
    z = (init.detach().clone() if init is not None else torch.randn(x.shape[0], LATENT_DIM))
    z.requires_grad_(True)
    x = x.detach()
    opt = torch.optim.Adam([z], lr=PROJECTION_LR)
    with torch.enable_grad():  # also when called under no_grad (predict)
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = (gen.decode(z) - x).pow(2).sum()
            loss.backward()
            opt.step()
    return z.detach()


def compute_codes(gen, method, x, steps):
    """codes.ts computeCodes (+ jobs.ts chunks of 5000): codes of every row of x."""
    out = []
    batch = PROJECTION_BATCH if is_projection(method) else ENCODING_BATCH
    for c in range(0, x.shape[0], CODE_CHUNK):
        xc = x[c: c + CODE_CHUNK]
        for s in range(0, xc.shape[0], batch):
            xb = xc[s: s + batch]
            if is_projection(method):
                out.append(project(gen, xb, steps))
            else:
                with torch.no_grad():
                    out.append(gen.encode_sample(xb) if method == "vae-encoding"
                               else gen.encode_mean(xb))
    return torch.cat(out) if out else torch.zeros(0, LATENT_DIM)


def encoder_codes(gen, x):
    with torch.no_grad():
        return torch.cat([gen.encode_mean(x[s: s + ENCODING_BATCH])
                          for s in range(0, x.shape[0], ENCODING_BATCH)])


def reconstruction_error(gen, codes, x, batch=2000):
    total = 0.0
    with torch.no_grad():
        for s in range(0, x.shape[0], batch):
            total += (gen.decode(codes[s: s + batch]) - x[s: s + batch]).norm(dim=1).sum().item()
    return total / max(1, x.shape[0])


# ----------------------------------------------------------------------------- x → logits

class Head:
    """An MLP on its own input space (pixels or codes)."""

    def __init__(self, model):
        self.model = model

    def logits(self, x):
        return self.model(x)

    def prepare(self, x):
        pass


class Pipeline:
    """latent/pipeline.ts: image → code → class. Projection spaces: full 500-step projection from
    a random start in the forward pass, encoder gradient in the backward pass (BPDA)."""

    def __init__(self, head, gen, method):
        self.head, self.gen, self.method = head, gen, method

    def code(self, x):
        if is_projection(self.method):
            projected = project(self.gen, x, PROJECTION_DEFAULT_STEPS)
            enc = self.gen.encode_mean(x)
            return enc + (projected - enc).detach()
        if self.method == "vae-encoding":
            return self.gen.encode_sample(x)
        return self.gen.encode_mean(x)

    def logits(self, x):
        return self.head(self.code(x))

    def prepare(self, x):
        pass


class _ImplicitCode(torch.autograd.Function):
    """Value z⋆; backward ∂L/∂x = J (JᵀJ + damping)⁻¹ ∂L/∂z (per example, float64 solve)."""

    @staticmethod
    def forward(ctx, x, z, J):
        ctx.save_for_backward(J)
        return z.clone()

    @staticmethod
    def backward(ctx, dy):
        (J,) = ctx.saved_tensors
        k = J.shape[2]
        jtj = torch.bmm(J.transpose(1, 2), J).double()
        trace = jtj.diagonal(dim1=1, dim2=2).sum(1)
        damp = 1e-6 * (trace / k) + 1e-12
        jtj = jtj + damp[:, None, None] * torch.eye(k, dtype=torch.float64)
        L = torch.linalg.cholesky(jtj)
        u = torch.cholesky_solve(dy.double().unsqueeze(2), L).float()
        return torch.bmm(J, u).squeeze(2), None, None


class ImplicitPipeline(Pipeline):
    """pipeline.ts with projectionGradient 'implicit': `prepare(x)` projects each new iterate
    (warm start: 10 steps from the previous z⋆ if the row count is unchanged, else 50 from E(x))
    and linearises D there by central differences; `logits` on that very x uses z⋆ with the
    Gauss–Newton implicit gradient. Any other x: the base pipeline (a full projection)."""

    def __init__(self, head, gen, method):
        super().__init__(head, gen, method)
        self.prepared = None

    def prepare(self, x):
        prev = self.prepared
        warm = prev is not None and prev[1].shape[0] == x.shape[0]
        with torch.no_grad():
            init = prev[1] if warm else self.gen.encode_mean(x)
        z = project(self.gen, x, PREPARE_WARM_STEPS if warm else PREPARE_COLD_STEPS, init)
        self.prepared = None
        with torch.no_grad():
            n, k = z.shape
            eye = torch.eye(k) * FD_EPS
            zs = (z[:, None, :] + eye[None]).reshape(n * k, k)
            zm = (z[:, None, :] - eye[None]).reshape(n * k, k)
            d = (self.gen.decode(zs) - self.gen.decode(zm)) / (2 * FD_EPS)  # [n*k, 784]
            J = d.reshape(n, k, -1).transpose(1, 2).contiguous()  # [n, 784, k]
        self.prepared = (x, z, J)

    def logits(self, x):
        if self.prepared is not None and self.prepared[0] is x:
            _, z, J = self.prepared
            return self.head(_ImplicitCode.apply(x, z, J))
        return super().logits(x)

    def release(self):
        self.prepared = None


def predict(clf, x, batch=2000):
    labels, probs = [], []
    with torch.no_grad():
        for s in range(0, x.shape[0], batch):
            lg = clf.logits(x[s: s + batch])
            labels.append(lg.argmax(1))
            probs.append(F.softmax(lg, 1))
    if not labels:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, NUM_CLASSES)
    return torch.cat(labels), torch.cat(probs)


def accuracy(clf, x, y):
    labels, _ = predict(clf, x)
    return (labels == y).float().mean().item() if y.numel() else float("nan")


# ----------------------------------------------------------------------------- attack

def select_examples(clf, x, y, count):
    """metrics/robustness.ts selectAttackExamples: count random correct inputs × 9 goals."""
    pred, _ = predict(clf, x)
    order = torch.randperm(x.shape[0])
    order = order[pred[order] == y[order]]
    if order.numel() < count:
        raise RuntimeError(f"only {order.numel()} correctly classified inputs, need {count}")
    chosen = order[:count].tolist()
    rows, goals, true = [], [], []
    for i in chosen:
        for g in range(NUM_CLASSES):
            if g != int(y[i]):
                rows.append(i)
                goals.append(g)
                true.append(int(y[i]))
    idx = torch.tensor(rows, dtype=torch.long)
    return x[idx].clone(), torch.tensor(goals), torch.tensor(true), idx


def targeted_attack(clf, x0, goals, max_steps, clamp):
    """attacks/targeted-ce-l2.ts + base.ts runAttack (ngd)."""
    lam, step, conf = ATTACK["lam"], ATTACK["step"], ATTACK["confidence"]
    n = x0.shape[0]
    x_adv = x0.clone()
    success = torch.zeros(n, dtype=torch.bool)
    steps = torch.full((n,), max_steps, dtype=torch.long)
    active = torch.arange(n)
    x, xo, lab = x0.clone(), x0.clone(), goals.clone()
    t = 0
    while active.numel() > 0:
        clf.prepare(x)
        with torch.no_grad():
            p = F.softmax(clf.logits(x), 1).gather(1, lab[:, None])[:, 0]
            hit = p >= conf
        if bool(hit.any()):
            fin = active[hit]
            x_adv[fin] = x[hit]
            success[fin] = True
            steps[fin] = t
            keep = ~hit
            x, xo, lab, active = x[keep], xo[keep], lab[keep], active[keep]
            if active.numel() > 0 and t < max_steps:
                clf.prepare(x)
        if t == max_steps or active.numel() == 0:
            break
        x.requires_grad_(True)
        logp = F.log_softmax(clf.logits(x), 1)
        ce = -logp.gather(1, lab[:, None]).sum()
        dist = torch.sqrt((x - xo).pow(2).sum(1) + 1e-12).sum()
        (g,) = torch.autograd.grad(ce + lam * dist, x)
        x.requires_grad_(False)
        with torch.no_grad():
            norm = torch.sqrt(g.pow(2).sum(1, keepdim=True) + 1e-30)
            x = x - step * g / norm
            if clamp:
                x = x.clamp(0.0, 1.0)
        t += 1
    x_adv[active] = x.detach()
    # Re-evaluate from the final copy (base.ts), as a user of xAdv will see it.
    _, probs = predict(clf, x_adv)
    goal_prob = probs.gather(1, goals[:, None])[:, 0] if n else probs[:, 0]
    return dict(x_adv=x_adv, success=success, steps=steps, goal_prob=goal_prob)


def summary(x0, r):
    s = r["success"]
    k = int(s.sum())
    n = x0.shape[0]
    # Steps each row spent in the attack loop (a failure: maxSteps), whatever a re-check said:
    # what the attack cost.
    loop = dict(loopSteps=int(r["steps"].max()) if n else 0,
                meanLoopSteps=r["steps"].float().mean().item() if n else float("nan"))
    if k == 0:
        return dict(n=n, successes=0, robustness=float("nan"), meanSteps=float("nan"), **loop)
    d = (r["x_adv"][s] - x0[s]).norm(dim=1)
    rel = d / x0[s].norm(dim=1)
    return dict(n=n, successes=k, robustness=rel.mean().item(), meanL2=d.mean().item(),
                meanSteps=r["steps"][s].float().mean().item(), **loop)


# ----------------------------------------------------------------------------- spectral defence

def bottom_count(f, count):
    return min(count, int(math.floor(f * count + 0.5 + 1e-9)))


def defended(model, spectra, mode, fraction):
    """defences/spectral.ts defendSpectral (scaleBottom), float64, rounded once to float32."""
    m = 0.0 if mode == "zero" else SCALE_FACTOR
    new = classifier_like(model)
    for lin, newlin, (W, U, S, Vh) in zip(linears(model), linears(new), spectra):
        count = S.shape[0]
        k = bottom_count(fraction, count)
        if k <= count - k:
            sl = slice(count - k, count)
            Wn = W + (U[:, sl] * ((m - 1) * S[sl])) @ Vh[sl]
        else:
            sl = slice(0, count - k)
            Wn = m * W + (U[:, sl] * ((1 - m) * S[sl])) @ Vh[sl]
        with torch.no_grad():
            newlin.weight.copy_(Wn.float())
            newlin.bias.copy_(lin.bias)
    return freeze(new)


def classifier_like(model):
    lins = linears(model)
    arch = {2: "1L", 3: "2L", 4: "LRL"}[len(lins)]
    return classifier(arch, lins[0].in_features, lins[0].out_features)


# ----------------------------------------------------------------------------- the graph

def build_graph(datasets, p):
    """stages.ts buildGraph: (name, kind, params, deps), in its order (a topological order)."""
    g = []
    for d in datasets:
        for arch in ARCHS:
            g.append((f"classifier/{d}/image/{arch}", "classifier",
                      dict(dataset=d, space="image", arch=arch, epochs=p["imageEpochs"]), []))
        for kind in ("ae", "vae"):
            g.append((f"generator/{d}/{kind}", "generator",
                      dict(dataset=d, kind=kind, epochs=p["generatorEpochs"]), []))
        for m in LATENT_METHODS:
            g.append((f"codes/{d}/{m}", "codes", dict(dataset=d, method=m),
                      [f"generator/{d}/{method_generator(m)}"]))
            for arch in ARCHS:
                g.append((f"classifier/{d}/{m}/{arch}", "classifier",
                          dict(dataset=d, space=m, arch=arch, epochs=p["latentEpochs"]),
                          [f"codes/{d}/{m}"]))
        for space in ["image"] + LATENT_METHODS:
            for arch in ARCHS:
                modes = ["own-space"] if space == "image" else ["own-space", "pixel-space"]
                for mode in modes:
                    g.append((f"attack/{d}/{space}/{arch}/{mode}", "attack",
                              dict(dataset=d, space=space, arch=arch, mode=mode),
                              [f"classifier/{d}/{space}/{arch}"]
                              + ([] if space == "image" else [f"codes/{d}/{space}"])))
        for arch in ARCHS:
            g.append((f"transfer/{d}/{arch}", "transfer", dict(dataset=d, arch=arch),
                      [f"attack/{d}/image/{arch}/own-space"]
                      + [f"classifier/{d}/{m}/{a}" for m in LATENT_METHODS for a in ARCHS]))
        for mode in ("zero", "scale"):
            g.append((f"svd/{d}/{mode}", "svd", dict(dataset=d, mode=mode),
                      [f"classifier/{d}/image/2L", f"attack/{d}/image/2L/own-space"]))
    return g


class Study:
    def __init__(self, p, data):
        self.p = p
        self.data = data  # dataset -> full splits
        self.models = {}  # classifier stage -> nn.Sequential
        self.gens = {}  # generator stage -> Generator
        self.codes = {}  # codes stage -> {"train": (z, y), "test": (z, y)}
        self.attacks = {}  # attack stage -> dict

    def run(self, name, kind, q, deps):
        return getattr(self, "stage_" + kind)(name, q, deps)

    def stage_classifier(self, name, q, deps):
        d, space = q["dataset"], q["space"]
        if space == "image":
            ds = limited(self.data[d], self.p)
        else:
            ds = self.codes[deps[0]]
        (xtr, ytr), (xte, yte) = ds["train"], ds["test"]
        model = classifier(q["arch"], xtr.shape[1], self.p["hidden"])
        losses = fit(list(model.parameters()), xtr, ytr,
                     lambda xb, yb: F.cross_entropy(model(xb), yb),
                     q["epochs"], CLASSIFIER_BATCH, CLASSIFIER_LR)
        freeze(model)
        h = Head(model)
        self.models[name] = model
        return dict(trainAccuracy=accuracy(h, xtr, ytr), testAccuracy=accuracy(h, xte, yte),
                    finalLoss=losses[-1] if losses else None)

    def stage_generator(self, name, q, deps):
        ds = limited(self.data[q["dataset"]], self.p)
        gen = Generator(q["kind"])
        xtr, xte = ds["train"][0], ds["test"][0]
        losses = fit(list(gen.parameters()), xtr, None, lambda xb, _: gen.loss(xb),
                     q["epochs"], GENERATOR_BATCH, GENERATOR_LR)
        freeze(gen)
        self.gens[name] = gen
        codes = encoder_codes(gen, xte)
        return dict(finalLoss=losses[-1] if losses else None,
                    testReconstructionL2=reconstruction_error(gen, codes, xte))

    def stage_codes(self, name, q, deps):
        gen = self.gens[deps[0]]
        ds = limited(self.data[q["dataset"]], self.p)
        out, rec = {}, {}
        for split in ("train", "test"):
            x, y = ds[split]
            z = compute_codes(gen, q["method"], x, self.p["projectionSteps"])
            out[split] = (z, y)
            r = reconstruction_error(gen, z, x)
            if is_projection(q["method"]):
                r_enc = reconstruction_error(gen, encoder_codes(gen, x), x)
            else:
                r_enc = r
            rec[split] = dict(codes=r, encoder=r_enc)
        self.codes[name] = out
        return dict(reconstructionL2=rec)

    def stage_attack(self, name, q, deps):
        d, space, mode = q["dataset"], q["space"], q["mode"]
        model = self.models[deps[0]]
        head = Head(model)
        # Examples are chosen on the model's own-space test data, with no limit for images
        # (attack-job.ts loads the dataset without limits; codes have the codes stage's n).
        if space == "image":
            xte, yte = self.data[d]["test"]
        else:
            xte, yte = self.codes[deps[1]]["test"]
        x0, goals, true, idx = select_examples(head, xte, yte, self.p["attackCount"])
        clf, clamp, verify = head, space == "image", None
        if mode == "pixel-space":
            x0 = self.data[d]["test"][0][idx].clone()
            gen = self.gens[f"generator/{d}/{method_generator(space)}"]
            clamp = True
            if is_projection(space):
                clf = ImplicitPipeline(model, gen, space)
                verify = Pipeline(model, gen, space)
            else:
                clf = Pipeline(model, gen, space)
        r = targeted_attack(clf, x0, goals, self.p["attackMaxSteps"], clamp)
        if isinstance(clf, ImplicitPipeline):
            clf.release()
        if verify is not None:  # attack-job.ts recheck: a success must fool the real pipeline
            _, probs = predict(verify, r["x_adv"])
            r["goal_prob"] = probs.gather(1, goals[:, None])[:, 0]
            r["success"] &= r["goal_prob"] >= ATTACK["confidence"]
        r.update(x0=x0, goals=goals, true=true)
        self.attacks[name] = r
        return summary(x0, r)

    def stage_transfer(self, name, q, deps):
        d = q["dataset"]
        a = self.attacks[deps[0]]
        x = a["x_adv"][a["success"]]
        true = a["true"][a["success"]]
        cells = []
        for t in deps[1:]:
            space = t.split("/")[2]
            gen = self.gens[f"generator/{d}/{method_generator(space)}"]
            labels, _ = predict(Pipeline(self.models[t], gen, space), x, batch=1000)
            cells.append(dict(target=t, n=int(x.shape[0]),
                              accuracy=(labels == true).float().mean().item()
                              if x.shape[0] else float("nan")))
        return dict(cells=cells)

    def stage_svd(self, name, q, deps):
        d = q["dataset"]
        ds = limited(self.data[d], self.p)
        (xtr, ytr), (xte, yte) = ds["train"], ds["test"]
        model = self.models[deps[0]]
        a = self.attacks[deps[1]]
        adv, adv_true = a["x_adv"][a["success"]], a["true"][a["success"]]
        spectra = []
        for lin in linears(model):
            W = lin.weight.detach().double()  # [out, in]: the transpose of robustlab's W
            U, S, Vh = torch.linalg.svd(W, full_matrices=False)
            spectra.append((W, U, S, Vh))
        points = []
        for f in self.p["fractions"]:
            m = defended(model, spectra, q["mode"], f)
            h = Head(m)
            labels, _ = predict(h, adv)
            pt = dict(fraction=f, adversarialAccuracy=(labels == adv_true).float().mean().item()
                      if adv.shape[0] else float("nan"))
            if self.p["reattackCount"] > 0:
                x0, goals, _, _ = select_examples(h, xte, yte, self.p["reattackCount"])
                r = targeted_attack(h, x0, goals, self.p["attackMaxSteps"], True)
                s = summary(x0, r)
                pt.update(reattackRobustness=s["robustness"], reattackSuccesses=s["successes"],
                          reattackMeanSteps=s["meanSteps"])
            pt.update(trainAccuracy=accuracy(h, xtr, ytr), testAccuracy=accuracy(h, xte, yte))
            points.append(pt)
        return dict(points=points)


# ----------------------------------------------------------------------------- main

def _finite(v):
    """NaN / ±inf → null, so that JSON.parse (and robustlab's tooling) can read the file."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def write_json_atomic(path, obj):
    obj = _finite(obj)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".pytorch-study-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def parse_value(v):
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="mnist,fashion-mnist")
    ap.add_argument("--preset", default="paper", choices=sorted(PRESETS))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a preset field (JSON value), e.g. reattackCount=1")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-dir", default=os.path.join(repo, "..", "shared", "datasets"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--only-stages", default=None, metavar="PREFIX[,PREFIX]")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    wall0 = time.perf_counter()
    torch.set_num_threads(args.threads)
    p = dict(PRESETS[args.preset])
    for kv in args.set:
        k, _, v = kv.partition("=")
        if k not in p:
            ap.error(f"--set: unknown preset field '{k}' (one of {', '.join(p)})")
        p[k] = parse_value(v)
    datasets = [s.strip() for s in args.datasets.split(",") if s.strip()]
    for d in datasets:
        if d not in FILES:
            ap.error(f"unknown dataset '{d}' (mnist, fashion-mnist)")

    graph = build_graph(datasets, p)
    wanted = {g[0] for g in graph}
    if args.only_stages:
        prefixes = [s for s in args.only_stages.split(",") if s]
        wanted = {g[0] for g in graph if any(g[0].startswith(x) for x in prefixes)}
        if not wanted:
            ap.error(f"--only-stages {args.only_stages}: no stage matches")
    deps = {g[0]: g[3] for g in graph}
    needed, todo = set(), list(wanted)
    while todo:
        s = todo.pop()
        if s not in needed:
            needed.add(s)
            todo.extend(deps[s])

    t = time.perf_counter()
    data = {d: load_dataset(args.data_dir, d) for d in datasets
            if any(n.split("/")[1] == d for n in needed)}
    load_seconds = time.perf_counter() - t

    out = {"torch": torch.__version__, "threads": torch.get_num_threads(),
           "blasThreads": os.environ.get("OPENBLAS_NUM_THREADS"), "preset": args.preset,
           "settings": p, "seed": args.seed, "datasets": datasets, "seconds": {}, "total": 0.0,
           "wall": 0.0, "dataLoadSeconds": load_seconds, "dependencySeconds": {},
           "results": {}, "complete": False}
    study = Study(p, data)
    total = 0.0
    for name, kind, q, dps in graph:
        if name not in needed:
            continue
        torch.manual_seed((args.seed * 1000003 + zlib.crc32(name.encode())) % (2 ** 63))
        t = time.perf_counter()
        res = study.run(name, kind, q, dps)
        sec = time.perf_counter() - t
        if name in wanted:
            out["seconds"][name] = sec
            total += sec
        else:
            out["dependencySeconds"][name] = sec
        out["results"][name] = res
        out["total"] = total
        out["wall"] = time.perf_counter() - wall0
        extra = ""
        if kind == "attack":
            extra = (f"  successes {res['successes']}/{res['n']} meanSteps {res['meanSteps']:.1f}"
                     f" loop steps mean {res['meanLoopSteps']:.1f} max {res['loopSteps']}")
        elif kind == "classifier":
            extra = f"  test acc {res['testAccuracy']:.4f}"
        print(f"{name:50s} {sec:9.2f} s   total {total:9.1f} s{extra}", file=sys.stderr,
              flush=True)
        if args.out:
            write_json_atomic(args.out, out)
    out["wall"] = time.perf_counter() - wall0
    out["complete"] = True
    if args.out:
        write_json_atomic(args.out, out)
    print(f"total {total:.1f} s, wall {out['wall']:.1f} s "
          f"(data loading {load_seconds:.1f} s)", file=sys.stderr)
    if not args.out:
        print(json.dumps(_finite(out), allow_nan=False))


if __name__ == "__main__":
    main()
