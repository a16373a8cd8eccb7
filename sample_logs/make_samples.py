"""Regenerate the sample runs in this folder (deterministic: fixed seeds).

Every run is real gradient descent on a small problem, written the way
training scripts write their logs:

* ``converges_early.csv``     full-batch GD on least squares; converges in the
  first tenth of its 3,000 steps and keeps going; wall-clock column; sparse
  ``val_loss`` every 100 steps.
* ``still_improving.jsonl``   the same kind of problem, badly conditioned and
  with a small learning rate: the loss is still falling when the run ends;
  W&B-style ``_step``/``_runtime`` keys.
* ``diverges.jsonl``          a learning-rate warm-up that overshoots: the loss
  falls, then blows up to ``Infinity`` and ``NaN`` (written as JSON tokens).
* ``noisy_minibatch.csv``     minibatch SGD on logistic regression, the
  minibatch loss logged at every step; the job crashed at step 2,800 and was
  resumed from the step-2,500 checkpoint, so steps 2,500-2,800 appear twice.
* ``cosine_schedule/metrics.csv``  long format (``tag,step,value``): a cosine
  learning-rate schedule down to a floor; the loss is still falling at the end.
* ``overfits.csv``            full-batch GD on an over-parametrised regression
  (50 weights, 60 samples): the training loss keeps falling while the
  validation loss turns and rises (Keras-style ``epoch,loss,val_loss``).

* ``tensorboard_run/``        minibatch softmax regression written by tensorboardX
  (``train/loss`` every 10 steps, ``val/loss`` every 250).

Run: ``python sample_logs/make_samples.py [OUT_DIR]`` (needs numpy and tensorboardX).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z


def least_squares(
    rng: np.random.Generator, n: int, d: int, cond: float
) -> tuple[np.ndarray, np.ndarray]:
    """A regression problem whose feature scales span *cond*."""
    scales = np.geomspace(1.0, 1.0 / cond, d)
    x = rng.normal(size=(n, d)) * scales
    w_true = rng.normal(size=d) * 3.0
    y = x @ w_true + rng.normal(scale=0.3, size=n)
    return x, y


def mse(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    r = x @ w - y
    return float(np.mean(r * r))


def gd_path(x: np.ndarray, y: np.ndarray, lrs: np.ndarray) -> np.ndarray:
    """Full-batch gradient descent; the loss before each step."""
    w = np.zeros(x.shape[1])
    out = np.empty(len(lrs))
    with np.errstate(over="ignore", invalid="ignore"):
        for t, lr in enumerate(lrs):
            r = x @ w - y
            out[t] = np.mean(r * r)
            w = w - lr * (2.0 / len(y)) * (x.T @ r)
    return out


def val_path(
    x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, lrs: np.ndarray
) -> np.ndarray:
    """Validation loss of the weights that full-batch GD on (x, y) visits."""
    w = np.zeros(x.shape[1])
    out = np.empty(len(lrs))
    for t, lr in enumerate(lrs):
        out[t] = mse(xv, yv, w)
        w = w - lr * (2.0 / len(y)) * (x.T @ (x @ w - y))
    return out


def converges_early(out: Path) -> None:
    rng = np.random.default_rng(1)
    xs, ys = least_squares(rng, 1024, 16, cond=3.0)
    x, y, xv, yv = xs[:512], ys[:512], xs[512:], ys[512:]
    steps = 3000
    lrs = np.full(steps, 0.05)
    loss = gd_path(x, y, lrs)
    val = val_path(x, y, xv, yv, lrs)
    jitter = np.random.default_rng(11).normal(0.0, 0.05, steps)
    wall = T0 + np.cumsum(1.2 + jitter)
    with (out / "converges_early.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "wall_time", "loss", "val_loss", "lr"])
        for t in range(steps):
            vl = f"{val[t]:.6g}" if t % 100 == 0 else ""
            w.writerow([t, f"{wall[t]:.3f}", f"{loss[t]:.6g}", vl, f"{lrs[t]:g}"])


def still_improving(out: Path) -> None:
    rng = np.random.default_rng(2)
    x, y = least_squares(rng, 256, 24, cond=30.0)
    steps = 2000
    lrs = np.full(steps, 0.0003)
    loss = gd_path(x, y, lrs)
    with (out / "still_improving.jsonl").open("w") as fh:
        for t in range(0, steps, 10):
            rec = {"_step": t, "_runtime": round(0.35 * t, 3), "loss": round(float(loss[t]), 6)}
            fh.write(json.dumps(rec) + "\n")


def diverges(out: Path) -> None:
    rng = np.random.default_rng(3)
    x, y = least_squares(rng, 256, 12, cond=2.0)
    steps = 1500
    lam_max = float(np.linalg.eigvalsh(2.0 / len(y) * x.T @ x).max())
    # warm-up that keeps rising past the stable limit 2 / lam_max
    lrs = np.linspace(0.05, 12.0, steps) / lam_max
    loss = gd_path(x, y, lrs)
    with (out / "diverges.jsonl").open("w") as fh:
        for t in range(0, steps, 5):
            rec = {"step": t, "loss": float(f"{loss[t]:.8g}"), "lr": float(f"{lrs[t]:.6g}")}
            fh.write(json.dumps(rec) + "\n")  # json writes NaN / Infinity tokens


def noisy_minibatch(out: Path) -> None:
    rng = np.random.default_rng(4)
    n, d = 4096, 20
    x = rng.normal(size=(n, d))
    w_true = rng.normal(size=d)
    p = 1.0 / (1.0 + np.exp(-(x @ w_true)))
    y = (rng.random(n) < p).astype(np.float64)

    def run(
        w: np.ndarray, start: int, stop: int, seed: int
    ) -> tuple[list[tuple[int, float]], dict[int, np.ndarray]]:
        r = np.random.default_rng(seed)
        rows: list[tuple[int, float]] = []
        ckpts: dict[int, np.ndarray] = {}
        for t in range(start, stop):
            if t % 500 == 0:
                ckpts[t] = w.copy()
            idx = r.integers(0, n, 16)
            z = x[idx] @ w
            q = 1.0 / (1.0 + np.exp(-z))
            eps = 1e-12
            loss = -np.mean(y[idx] * np.log(q + eps) + (1 - y[idx]) * np.log(1 - q + eps))
            rows.append((t, float(loss)))
            w = w - 0.05 * x[idx].T @ (q - y[idx]) / len(idx)
        return rows, ckpts

    first, ckpts = run(np.zeros(d), 0, 2800, seed=40)  # crashed at step 2800
    second, _ = run(ckpts[2500], 2500, 4000, seed=41)  # resumed from checkpoint
    with (out / "noisy_minibatch.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["global_step", "train_loss"])
        for t, v in first + second:
            w.writerow([t, f"{v:.5f}"])


def cosine_schedule(out: Path) -> None:
    rng = np.random.default_rng(5)
    x, y = least_squares(rng, 512, 16, cond=6.0)
    steps = 300
    t = np.arange(steps)
    lrs = 0.006 + 0.5 * (0.012 - 0.006) * (1 + np.cos(np.pi * t / steps))
    loss = gd_path(x, y, lrs)
    folder = out / "cosine_schedule"
    folder.mkdir(exist_ok=True)
    with (folder / "metrics.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["tag", "step", "value"])
        for s in range(0, steps, 4):
            w.writerow(["train/loss", s, f"{loss[s]:.6g}"])
            w.writerow(["lr", s, f"{lrs[s]:.6g}"])


def overfits(out: Path) -> None:
    rng = np.random.default_rng(7)
    n, d = 60, 50
    xs = rng.normal(size=(n + 500, d))
    ys = xs @ (rng.normal(size=d) * 0.5) + 2.0 * rng.normal(size=n + 500)
    x, y, xv, yv = xs[:n], ys[:n], xs[n:], ys[n:]
    lrs = np.full(300, 0.02)
    loss = gd_path(x, y, lrs)
    val = val_path(x, y, xv, yv, lrs)
    with (out / "overfits.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "loss", "val_loss"])
        for t in range(len(lrs)):
            w.writerow([t, f"{loss[t]:.6g}", f"{val[t]:.6g}"])


def tensorboard_run(out: Path) -> None:
    """Softmax regression with minibatch SGD, logged by tensorboardX (a real writer)."""
    from tensorboardX import SummaryWriter

    rng = np.random.default_rng(6)
    n, d, k = 3000, 10, 3
    centers = rng.normal(scale=0.5, size=(k, d))
    labels = rng.integers(0, k, n)
    x = centers[labels] + rng.normal(size=(n, d))
    xv, yv, xt, yt = x[:500], labels[:500], x[500:], labels[500:]
    w = np.zeros((d, k))

    def loss_of(xs: np.ndarray, ys: np.ndarray, w: np.ndarray) -> float:
        z = xs @ w
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(ys)), ys].mean())

    folder = out / "tensorboard_run"
    for old in folder.glob("events.out.tfevents.*"):
        old.unlink()
    writer = SummaryWriter(str(folder))
    steps, lr, window = 6000, 0.02, []
    for t in range(steps):
        idx = rng.integers(0, len(yt), 32)
        z = xt[idx] @ w
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        window.append(-np.log(p[np.arange(32), yt[idx]]).mean())
        p[np.arange(32), yt[idx]] -= 1.0
        w -= lr * xt[idx].T @ p / 32
        wall = T0 + 0.08 * t
        if t % 10 == 0:
            writer.add_scalar("train/loss", float(np.mean(window)), t, walltime=wall)
            writer.add_scalar("train/lr", lr, t, walltime=wall)
            window = []
        if t % 250 == 0:
            writer.add_scalar("val/loss", loss_of(xv, yv, w), t, walltime=wall)
    writer.close()
    (made,) = folder.glob("events.out.tfevents.*")
    made.rename(folder / "events.out.tfevents.1735689600.sample")


def main(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    converges_early(out)
    still_improving(out)
    diverges(out)
    noisy_minibatch(out)
    cosine_schedule(out)
    overfits(out)
    tensorboard_run(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
