"""The evaluation stages of bench/eval-stages.ts in plain PyTorch (bench/torch_eval.py), timed.

Same model (a robustlab model directory, loaded by hand), same test points, same attacks and
settings: PGD L∞, APGD-CE, Square L∞ and the `autoattack` standard cascade. Like robustlab's,
every attack drops an example from its batch at its first adversarial iterate (FAB-T, a
minimum-norm attack, runs all its iterations), and robust accuracy is judged on the points an
attack returns (robustlab re-evaluates them; the cascade judges each stage's output, as
fra31/auto-attack does), so both sides do the same work. The stage list comes
from robustlab's side as JSON (--stages), so names and settings are declared once.
Prints one JSON object: {"torch", "threads", "seconds": {stage: median seconds},
"robust": {stage: robust accuracy}}; with --probe, only {"probe": seconds} of one short stage
(APGD-CE, 10 iterations, on all points), used to pick the thread setting cheaply.

Usage: /usr/bin/python3 bench/pytorch_eval_bench.py [repeats] [stage|stage...] --model DIR
         --stages JSON [--data-dir D] [--n 1000] [--probe]
"""
import argparse
import json
import os
import sys
import time

THREADS = int(os.environ.get("TORCH_THREADS", os.cpu_count() or 1))
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_v, str(THREADS))

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_eval as te  # noqa: E402


def attack(st, model, x, y):
    """One attack of a stage: (robust flags, the points returned)."""
    a, eps, seed = st["attack"], st["eps"], st.get("seed", 0)
    if a == "pgd":
        return te.pgd_linf(model, x, y, eps, st["steps"], st.get("stepSize"), st.get("restarts", 1), seed,
                           return_adv=True)
    if a == "apgd-ce":
        return te.apgd(model, x, y, eps, st["steps"], st.get("restarts", 1), seed, "ce", drop_finished=True,
                       return_adv=True)
    if a == "apgd-t":
        return te.apgd(model, x, y, eps, st["steps"], st.get("restarts", 1), seed, "dlr-targeted", 9,
                       drop_finished=True, return_adv=True)
    if a == "fab-t":
        return te.fab_t_linf(model, x, y, eps, st["steps"], 9, seed, return_adv=True)
    if a == "square":
        return te.square_linf(model, x, y, eps, st["queries"], seed=seed, return_adv=True)
    raise ValueError(f"unknown attack {a}")


def run_stage(st, model, x, y):
    """Robust flags of a stage. A single attack is judged on the points it returns (one forward
    pass over all of them), as robustlab's attacks re-evaluate theirs and as a user of
    torchattacks measures robust accuracy; the cascade judges each of its stages itself."""
    if st["attack"] == "autoattack":
        return te.autoattack_standard(model, x, y, st["eps"], st.get("seed", 0), drop_finished=True)[0]
    _, x_adv = attack(st, model, x, y)
    return te.predict(model, x_adv) == y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("repeats", nargs="?", type=int, default=3)
    ap.add_argument("only", nargs="?", default="")
    ap.add_argument("--model", required=True)
    ap.add_argument("--stages", required=True)
    ap.add_argument("--data-dir", default=os.environ.get("ROBUSTLAB_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "datasets")))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--probe", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(THREADS)
    model, _ = te.load_robustlab_model(a.model)
    x, y = te.load_mnist_test(a.data_dir, a.n)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if a.probe:
        eps = json.loads(a.stages)[0]["eps"]
        probe = lambda: te.apgd(model, x, y, eps, 10, 1, 0, "ce")  # noqa: E731
        probe()
        t = time.perf_counter()
        probe()
        out["probe"] = time.perf_counter() - t
        print(json.dumps(out))
        return
    only = set(a.only.split("|")) if a.only else None
    out["seconds"], out["robust"] = {}, {}
    for st in json.loads(a.stages):
        if only and st["name"] not in only:
            continue
        run_stage(st, model, x, y)  # warm-up
        runs = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            r = run_stage(st, model, x, y)
            runs.append(time.perf_counter() - t)
        runs.sort()
        out["seconds"][st["name"]] = runs[len(runs) // 2]
        out["robust"][st["name"]] = r.float().mean().item()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
