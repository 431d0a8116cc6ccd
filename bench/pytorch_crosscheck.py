"""Independent cross-check of robustlab's PGD and APGD-CE, in plain PyTorch (issue 13).

Loads a robustlab model directory (parsing the tfjs Layers JSON and the float32 weights by
hand), takes the first N MNIST test points from the gzipped IDX files, and runs PGD L∞ and
APGD-CE (bench/torch_eval.py: our own PyTorch code; APGD follows fra31/auto-attack's
autopgd_base.py step for step) at each ε. Prints one JSON object on stdout:
  {"torch", "dtype", "n", "clean", "results": [{"eps", "pgd", "apgd_ce", "pgd_flags", "apgd_ce_flags"}],
   "settings", "seconds"}
accuracies in [0, 1]; *_flags a string of 0/1 per point, 1 = still robust.

Usage: /usr/bin/python3 bench/pytorch_crosscheck.py --model DIR [--data-dir D] [--n 1000]
         [--eps 0.3,0.1] [--pgd-steps 100] [--pgd-step-size S] [--pgd-restarts 1]
         [--apgd-steps 100] [--apgd-restarts 1] [--seed 0] [--dtype float32|float64]

float32 is the precision the reference (and robustlab's model) computes in. In float32 the
cross-entropy gradient of a point classified with a logit margin above ~17 loses its true-class
term (p_y rounds to 1, so p_y − 1 = 0): the step then only raises the other logits. robustlab
forms that term on the host in float64 (as −Σ_{j≠y} p_j); --dtype float64 gives PyTorch the
same exact gradient, which is the like-for-like comparison.
"""
import argparse
import json
import os
import sys
import time

THREADS = os.environ.get("TORCH_THREADS", "1")
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_v, THREADS)

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_eval import apgd, load_mnist_test, load_robustlab_model, pgd_linf, predict  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data-dir", default=os.environ.get("ROBUSTLAB_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "datasets")))
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--eps", default="0.3")
    ap.add_argument("--pgd-steps", type=int, default=100)
    ap.add_argument("--pgd-step-size", type=float, default=None, help="default 2.5·ε/steps")
    ap.add_argument("--pgd-restarts", type=int, default=1)
    ap.add_argument("--apgd-steps", type=int, default=100)
    ap.add_argument("--apgd-restarts", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="float64: weights and inputs in double precision (no float32 saturation of the CE gradient)",
    )
    a = ap.parse_args()
    torch.set_num_threads(int(THREADS))

    try:
        model, _ = load_robustlab_model(a.model)
        x, y = load_mnist_test(a.data_dir, a.n, a.dataset)
    except (OSError, ValueError, KeyError) as e:
        print(f"pytorch_crosscheck: {e}", file=sys.stderr)
        sys.exit(2)
    if a.dtype == "float64":
        # the weights are float32 values; float64 only removes rounding from the arithmetic
        model, x = model.double(), x.double()
    t0 = time.perf_counter()
    clean = (predict(model, x) == y).float().mean().item()
    flags = lambda r: "".join("1" if v else "0" for v in r.tolist())  # noqa: E731
    results = []
    for eps in [float(e) for e in a.eps.split(",")]:
        step = a.pgd_step_size if a.pgd_step_size is not None else 2.5 * eps / a.pgd_steps
        r_pgd = pgd_linf(model, x, y, eps, a.pgd_steps, step, a.pgd_restarts, a.seed)
        r_apgd = apgd(model, x, y, eps, a.apgd_steps, a.apgd_restarts, a.seed, "ce")
        results.append(
            {
                "eps": eps,
                "pgd": r_pgd.float().mean().item(),
                "apgd_ce": r_apgd.float().mean().item(),
                "pgd_step_size": step,
                "pgd_flags": flags(r_pgd),
                "apgd_ce_flags": flags(r_apgd),
            }
        )
        print(
            f"eps {eps}: PGD {results[-1]['pgd']:.3f}, APGD-CE {results[-1]['apgd_ce']:.3f}",
            file=sys.stderr,
        )
    out = {
        "torch": torch.__version__,
        "dtype": a.dtype,
        "n": a.n,
        "clean": clean,
        "results": results,
        "settings": {
            "pgd": {"steps": a.pgd_steps, "restarts": a.pgd_restarts},
            "apgd_ce": {"steps": a.apgd_steps, "restarts": a.apgd_restarts, "rho": 0.75},
            "seed": a.seed,
        },
        "seconds": time.perf_counter() - t0,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
