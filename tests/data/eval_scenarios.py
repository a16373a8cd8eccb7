"""The labelled evaluation corpus: small real training runs with known truth.

Every run here is a real (tiny) training run on the CPU, written by a real
writer library: PyTorch Lightning's ``CSVLogger``, Keras' ``CSVLogger``, the
Hugging Face ``Trainer`` (``trainer_state.json``), MLflow's file store,
torch's ``SummaryWriter`` and tensorboardX.  Each scenario is built to show
one thing (over-fitting, under-training, a plateau, a plateau then a second
descent after an LR drop, a too-high LR that collapses to chance without NaN,
NaN divergence, an isolated NaN, a job killed mid-schedule, accuracy
objectives, noisy per-step losses, resumed runs, a framework's own early
stop), and its label is computed from the training loop's *own* record (the
values the loop logged, its planned length, what was done to the run), never
from gdei.  Each label checks that the scenario really happened (an
over-fitting run whose validation loss did not rise is an error, not a
label).

Labels go to ``labels.json`` beside the runs:

* ``truth``: the verdict a careful reader would give; ``also``: another
  verdict that is equally defensible for this run (rare, and said why);
* ``stop_min`` / ``stop_max``: where a right stop may lie (steps), when the
  scenario pins it (a stop on the plateau before an LR drop is wrong);
* ``cut_short``: the run ended before its plan;
* ``why``: the loop's numbers behind the label.

Run through ``make_framework_logs.py --eval`` (needs torch lightning keras
transformers accelerate mlflow-skinny tensorboardX; not gdei's own
dependencies: the outputs are committed).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

LN10 = math.log(10.0)


# --------------------------------------------------------------------------- specs


@dataclass
class Spec:
    """One training run: data, model, optimiser, schedule, what happens to it."""

    name: str
    kind: str  # the scenario, which decides how the label is computed
    writer: str  # tb | tbx | mlflow | lightning | keras | hf
    task: str = "reg"  # reg | cls
    n_train: int = 512
    n_val: int = 256
    dims: int = 16
    noise: float = 0.3
    label_noise: float = 0.0
    hidden: int = 0  # 0: linear model
    opt: str = "sgd"
    lr: float = 0.05
    schedule: str = "const"  # const | step:EPOCH:GAMMA | cosine | ramp:PEAK_MULT
    epochs: int = 40
    batch: int = 32
    seed: int = 0
    kill_at: int | None = None  # the job dies after this epoch
    nan_at: int | None = None  # a NaN batch at this global step (skipped, like AMP)
    log_every: int = 1  # steps between train-loss points
    objective: str = "val_loss"  # what the label is computed on
    resume_at: int | None = None  # killed after this epoch, resumed from its checkpoint
    extra: dict[str, Any] = field(default_factory=dict)


def specs() -> list[Spec]:
    s: list[Spec] = []
    # over-fitting: a wide MLP on few noisy samples
    of = dict(hidden=256, opt="adam", lr=3e-3, n_train=48, noise=0.8, epochs=150, batch=16)
    s += [
        Spec("overfit", "overfit", "keras", **of),
        Spec("overfit", "overfit", "lightning", **of, seed=1),
        Spec("overfit", "overfit", "tb", **of, seed=2),
        Spec("overfit", "overfit", "mlflow", **{**of, "epochs": 120}, seed=3),
        Spec("overfit_cls", "overfit", "tbx", task="cls", hidden=256, opt="adam", lr=3e-3,
             n_train=80, label_noise=0.3, epochs=120, batch=16, seed=4),
        Spec("overfit", "overfit", "hf", hidden=256, opt="adam", lr=3e-3, n_train=48,
             noise=0.8, epochs=120, batch=16, seed=5),
    ]
    # under-training: the run ends while validation still falls
    ut = dict(hidden=64, opt="sgd", lr=0.004, epochs=25, noise=0.2)
    s += [
        Spec("undertrained", "undertrain", "keras", **ut),
        Spec("undertrained", "undertrain", "lightning", **ut, seed=1),
        Spec("undertrained", "undertrain", "tb", **ut, seed=2),
        Spec("undertrained", "undertrain", "tbx", **{**ut, "epochs": 15}, seed=3),
        Spec("undertrained", "undertrain", "hf", **{**ut, "epochs": 12}, seed=4),
    ]
    # plateau: a linear model on plenty of data converges early, then runs on
    pl = dict(hidden=0, opt="sgd", lr=0.05, n_train=2048, epochs=80, noise=0.3, log_every=4)
    s += [
        Spec("plateau", "plateau", "keras", **{**pl, "lr": 0.004}),
        Spec("plateau", "plateau", "lightning", **{**pl, "lr": 0.004}, seed=1),
        Spec("plateau", "plateau", "tb", **{**pl, "lr": 0.01}, seed=2),
        Spec("plateau", "plateau", "mlflow", **{**pl, "lr": 0.003}, seed=3),
        Spec("plateau", "plateau", "hf", **{**pl, "epochs": 30, "lr": 0.004}, seed=4),
    ]
    # a plateau, then a second descent after an LR drop: SGD at a high LR
    # hovers above the optimum (gradient noise), a 20x drop lets it settle
    ld = dict(hidden=0, dims=4, noise=1.0, opt="sgd", lr=0.08, n_train=512, batch=2,
              log_every=8, extra={"signal": 0.7})
    s += [
        Spec("lr_drop_long", "lrdrop_long", "lightning", **ld, schedule="step:25:0.05",
             epochs=80, seed=2),
        Spec("lr_drop_long", "lrdrop_long", "tb", **ld, schedule="step:25:0.05", epochs=80,
             seed=8),
        Spec("lr_drop_end", "lrdrop_short", "keras", **ld, schedule="step:31:0.05", epochs=34,
             seed=2),
        Spec("lr_drop_end", "lrdrop_short", "tbx", **ld, schedule="step:31:0.05", epochs=34,
             seed=8),
    ]
    # too-high learning rate: learns, then the LR ramps too high and the net
    # collapses to chance level (loss back at ln 10) without any NaN
    co = dict(task="cls", hidden=128, opt="adam", lr=1e-3, n_train=1024, epochs=60,
              schedule="ramp:1000", batch=32)
    s += [
        Spec("lr_too_high", "collapse", "tb", **co),
        Spec("lr_too_high", "collapse", "lightning", **co, seed=1),
        Spec("lr_too_high", "collapse", "keras", **co, seed=2),
    ]
    # NaN divergence: SGD with a step size past stability on a regression
    nd = dict(hidden=32, opt="sgd", lr=0.02, schedule="ramp:200", epochs=40, noise=0.3)
    s += [
        Spec("nan_divergence", "nan", "tb", **nd),
        Spec("nan_divergence", "nan", "keras", **nd, seed=1),
        Spec("nan_divergence", "nan", "lightning", **nd, seed=2),
    ]
    # one NaN batch, skipped like AMP's GradScaler skips it: not divergence
    s += [
        Spec("isolated_nan", "plateau", "tb", **pl, nan_at=700, seed=5),
        Spec("isolated_nan", "undertrain", "tbx", **ut, nan_at=150, seed=6),
    ]
    # killed mid-schedule: a cosine schedule that never finished
    kl = dict(hidden=64, opt="sgd", lr=0.02, schedule="cosine", epochs=60, noise=0.2)
    s += [
        Spec("killed", "killed", "lightning", **kl, kill_at=18),
        Spec("killed", "killed", "tb", **kl, kill_at=15, seed=1),
        Spec("killed", "killed", "mlflow", **kl, kill_at=20, seed=2),
        Spec("killed", "killed", "hf", **{**kl, "epochs": 40}, kill_at=12, seed=3),
    ]
    # accuracy-like objectives (no validation loss logged)
    s += [
        Spec("acc_overfit", "overfit", "lightning", task="cls", hidden=256, opt="adam",
             lr=3e-3, n_train=80, label_noise=0.3, epochs=120, batch=16, seed=7,
             objective="val_acc"),
        Spec("acc_improving", "undertrain", "tb", task="cls", hidden=64, opt="sgd", lr=0.01,
             n_train=1024, epochs=20, seed=8, objective="val_acc"),
        Spec("map_plateau", "plateau", "tbx", task="cls", hidden=0, opt="sgd", lr=0.01,
             n_train=2048, epochs=80, seed=9, objective="val_map", log_every=4),
        Spec("accuracy", "overfit", "hf", task="cls", hidden=256, opt="adam", lr=3e-3,
             n_train=64, label_noise=0.4, epochs=150, batch=16, seed=10,
             objective="eval_accuracy"),
    ]
    # noisy per-step losses (tiny batches, a point every step, no validation)
    s += [
        Spec("noisy_plateau", "plateau", "tb", hidden=0, opt="sgd", lr=0.02, n_train=4096,
             epochs=3, batch=4, noise=0.5, seed=11, objective="train"),
        Spec("noisy_plateau", "plateau", "lightning", hidden=0, opt="sgd", lr=0.02,
             n_train=4096, epochs=3, batch=4, noise=0.5, seed=12, objective="train"),
        Spec("noisy_improving", "undertrain", "tbx", hidden=64, opt="sgd", lr=0.002,
             n_train=8192, epochs=8, batch=64, noise=0.2, seed=13, objective="train"),
    ]
    # resumed from a checkpoint
    s += [
        Spec("resumed", "overfit", "keras", task="cls", hidden=256, opt="adam", lr=3e-3,
             n_train=80, label_noise=0.3, epochs=120, batch=16, resume_at=50, seed=14),
        Spec("resumed", "plateau", "tb", **pl, resume_at=30, seed=15),
        Spec("resumed", "undertrain", "hf", **{**ut, "epochs": 12}, resume_at=6, seed=16),
    ]
    # the framework stopped the run itself
    s += [
        Spec("early_stopped", "earlystop", "hf", hidden=256, opt="adam", lr=3e-3, n_train=48,
             noise=0.8, epochs=150, batch=16, seed=17, extra={"patience": 3}),
        Spec("early_stopped_plateau", "earlystop", "hf", **{**pl, "epochs": 200, "lr": 0.002},
             seed=19, extra={"patience": 4}),
        Spec("early_stopped", "earlystop", "keras", hidden=256, opt="adam", lr=3e-3,
             n_train=48, noise=0.8, epochs=150, batch=16, seed=18, extra={"patience": 10}),
    ]
    return s


# --------------------------------------------------------------------------- data


def make_data(spec: Spec) -> tuple[Any, Any, Any, Any]:
    import numpy as np

    rng = np.random.default_rng(1000 + spec.seed)
    n = spec.n_train + spec.n_val
    x = rng.normal(size=(n, spec.dims)).astype("float32")
    if spec.task == "reg":
        w = rng.normal(size=(spec.dims,)) / math.sqrt(spec.dims) * spec.extra.get("signal", 1.0)
        signal = x @ w
        if spec.hidden:
            signal = signal + 0.5 * np.sin(2 * x[:, 0]) * x[:, 1]
        y = (signal + spec.noise * rng.normal(size=n)).astype("float32")[:, None]
    else:
        centers = rng.normal(size=(10, spec.dims)) * 0.9
        y = rng.integers(0, 10, size=n)
        x = (centers[y] + rng.normal(size=(n, spec.dims))).astype("float32")
        flip = rng.random(n) < spec.label_noise
        y = np.where(flip, rng.integers(0, 10, size=n), y).astype("int64")
    return x[: spec.n_train], y[: spec.n_train], x[spec.n_train :], y[spec.n_train :]


def lr_at(spec: Spec, epoch: float) -> float:
    """The schedule's learning rate at a (fractional) epoch."""
    kind, *args = spec.schedule.split(":")
    if kind == "const":
        return spec.lr
    if kind == "step":
        at, gamma = int(args[0]), float(args[1])
        return spec.lr * (gamma if epoch >= at else 1.0)
    if kind == "cosine":
        return spec.lr * 0.5 * (1 + math.cos(math.pi * min(epoch, spec.epochs) / spec.epochs))
    if kind == "ramp":  # exponential ramp to PEAK_MULT x lr over the run
        peak = float(args[0])
        return spec.lr * peak ** (epoch / spec.epochs)
    raise ValueError(spec.schedule)


# --------------------------------------------------------------------------- torch


def torch_model(spec: Spec) -> Any:
    import torch

    torch.manual_seed(spec.seed)
    out = 1 if spec.task == "reg" else 10
    if not spec.hidden:
        return torch.nn.Linear(spec.dims, out)
    return torch.nn.Sequential(
        torch.nn.Linear(spec.dims, spec.hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(spec.hidden, spec.hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(spec.hidden, out),
    )


def torch_loss(spec: Spec, out: Any, y: Any) -> Any:
    import torch

    if spec.task == "reg":
        return torch.nn.functional.mse_loss(out, y)
    return torch.nn.functional.cross_entropy(out, y)


def torch_optimizer(spec: Spec, params: Any) -> Any:
    import torch

    if spec.opt == "adam":
        return torch.optim.Adam(params, lr=spec.lr)
    return torch.optim.SGD(params, lr=spec.lr)


def average_precision(scores: Any, positive: Any) -> float:
    """Mean over classes of average precision (a one-number mAP)."""
    import numpy as np

    aps = []
    for c in range(scores.shape[1]):
        order = np.argsort(-scores[:, c], kind="stable")
        hit = positive[order] == c
        if not hit.any():
            continue
        prec = np.cumsum(hit) / np.arange(1, hit.size + 1)
        aps.append(float((prec * hit).sum() / hit.sum()))
    return float(np.mean(aps))


def val_metrics(spec: Spec, model: Any, xv: Any, yv: Any) -> dict[str, float]:
    import torch

    with torch.no_grad():
        out = model(torch.from_numpy(xv))
        m = {"val_loss": float(torch_loss(spec, out, torch.from_numpy(yv)))}
        if spec.task == "cls":
            m["val_acc"] = float((out.argmax(1).numpy() == yv).mean())
            m["val_map"] = average_precision(torch.softmax(out, 1).numpy(), yv)
    return m


Event = tuple[int, dict[str, float]]


def torch_loop(spec: Spec, start_epoch: int = 0, state: dict[str, Any] | None = None,
               stop_after: int | None = None) -> Iterator[Event]:
    """A plain training loop: yields (global step, metrics) as a logger would see them."""
    import numpy as np
    import torch

    xt, yt, xv, yv = make_data(spec)
    model = torch_model(spec)
    opt = torch_optimizer(spec, model.parameters())
    if state is not None and "model" in state:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
    g = torch.Generator().manual_seed(spec.seed)
    steps_per_epoch = math.ceil(spec.n_train / spec.batch)
    if start_epoch == 0:
        yield 0, val_metrics(spec, model, xv, yv)
    last = spec.epochs if stop_after is None else stop_after
    for epoch in range(start_epoch, last):
        perm = torch.randperm(spec.n_train, generator=g).numpy()
        for b in range(steps_per_epoch):
            step = epoch * steps_per_epoch + b + 1
            lr = lr_at(spec, epoch + b / steps_per_epoch)
            for group in opt.param_groups:
                group["lr"] = lr
            idx = perm[b * spec.batch : (b + 1) * spec.batch]
            xb = torch.from_numpy(xt[idx])
            if spec.nan_at == step:
                xb = xb * float("nan")
            loss = torch_loss(spec, model(xb), torch.from_numpy(yt[idx]))
            opt.zero_grad()
            # with a NaN batch planned, a non-finite step is skipped, as AMP's
            # GradScaler skips it; otherwise NaN propagates as in plain training
            if spec.nan_at is None or torch.isfinite(loss):
                loss.backward()
                opt.step()
            if step % spec.log_every == 0:
                yield step, {"train_loss": float(loss), "lr": lr}
        if state is not None:  # the epoch's checkpoint
            import copy

            state.setdefault("epochs", {})[epoch + 1] = {
                "model": copy.deepcopy(model.state_dict()),
                "opt": copy.deepcopy(opt.state_dict()),
            }
        yield (epoch + 1) * steps_per_epoch, val_metrics(spec, model, xv, yv)
        if spec.kill_at is not None and epoch + 1 >= spec.kill_at:
            return
    _ = np


# --------------------------------------------------------------------------- history


@dataclass
class History:
    """What the training loop itself recorded: series by name -> (steps, values)."""

    series: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    planned: int | None = None  # planned last step
    notes: dict[str, Any] = field(default_factory=dict)

    def add(self, step: int, metrics: dict[str, float]) -> None:
        for k, v in metrics.items():
            steps, vals = self.series.setdefault(k, ([], []))
            # a resumed run writes a stretch again: the later value replaces it
            while steps and steps[-1] >= step:
                steps.pop()
                vals.pop()
            steps.append(step)
            vals.append(v)

    def get(self, name: str) -> tuple[list[int], list[float]]:
        return self.series[name]


# --------------------------------------------------------------------------- writers


def write_events(writer: Any, events: Iterator[Event], hist: History,
                 rename: Callable[[str], str] = lambda k: k) -> None:
    for step, metrics in events:
        hist.add(step, metrics)
        for k, v in metrics.items():
            writer.add_scalar(rename(k), v, step)


def tb_names(k: str) -> str:
    return {"train_loss": "train/loss", "val_loss": "val/loss", "val_acc": "val/accuracy",
            "val_map": "val/mAP", "lr": "lr"}[k]


def run_tb(spec: Spec, folder: Path, hist: History, tbx: bool = False) -> None:
    if tbx:
        from tensorboardX import SummaryWriter
    else:
        from torch.utils.tensorboard import SummaryWriter

    keep = _keep(spec)
    steps_per_epoch = math.ceil(spec.n_train / spec.batch)
    if spec.resume_at is None:
        w = SummaryWriter(str(folder))
        write_events(w, _only(torch_loop(spec), keep), hist, tb_names)
        w.close()
        return
    # the job dies 7 epochs after its epoch-`resume_at` checkpoint; a new job
    # resumes from that checkpoint and purges what the dead one wrote after it
    state: dict[str, Any] = {}
    w = SummaryWriter(str(folder), filename_suffix=".a")
    write_events(w, _only(torch_loop(spec, state=state, stop_after=spec.resume_at + 7), keep),
                 hist, tb_names)
    w.close()
    saved = state["epochs"][spec.resume_at]
    purge = spec.resume_at * steps_per_epoch + 1
    w = SummaryWriter(str(folder), purge_step=purge, filename_suffix=".b")
    write_events(w, _only(torch_loop(spec, start_epoch=spec.resume_at, state=saved), keep),
                 hist, tb_names)
    w.close()
    hist.notes["resumed"] = f"killed at epoch {spec.resume_at + 7}, resumed from epoch {spec.resume_at}"


def _keep(spec: Spec) -> set[str]:
    if spec.objective == "train":
        return {"train_loss", "lr"}
    if spec.objective in ("val_acc", "val_map"):
        return {"train_loss", "lr", spec.objective}
    return {"train_loss", "lr", "val_loss"}


def _only(events: Iterator[Event], keep: set[str]) -> Iterator[Event]:
    for step, m in events:
        sel = {k: v for k, v in m.items() if k in keep}
        if sel:
            yield step, sel


def run_mlflow(spec: Spec, folder: Path, hist: History) -> None:
    import mlflow

    root = folder / "mlruns"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    mlflow.set_tracking_uri(root.as_uri())
    mlflow.set_experiment(spec.name)
    run = mlflow.start_run(run_name=spec.name)
    mlflow.log_param("epochs", spec.epochs)
    mlflow.log_param("lr", spec.lr)
    steps_per_epoch = math.ceil(spec.n_train / spec.batch)
    # keras-autolog style: one point per epoch, step = epoch
    train_sum: list[float] = []
    for step, m in _only(torch_loop(spec), _keep(spec)):
        if "train_loss" in m:
            train_sum.append(m["train_loss"])
        if "val_loss" in m and step > 0:
            epoch = step // steps_per_epoch - 1
            point = {"loss": sum(train_sum) / len(train_sum), "val_loss": m["val_loss"]}
            train_sum.clear()
            hist.add(epoch, point)
            for k, v in point.items():
                mlflow.log_metric(k, v, step=epoch)
    mlflow.end_run(status="KILLED" if spec.kill_at is not None else "FINISHED")
    _ = run


# --------------------------------------------------------------------------- lightning


def run_lightning(spec: Spec, folder: Path, hist: History) -> None:
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import Callback, LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger

    xt, yt, xv, yv = make_data(spec)
    train = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(xt), torch.from_numpy(yt)),
        batch_size=spec.batch, shuffle=True, generator=torch.Generator().manual_seed(spec.seed))
    val = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(xv), torch.from_numpy(yv)),
        batch_size=len(xv))
    steps_per_epoch = len(train)

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch_model(spec)

        def training_step(self, batch: Any, i: int) -> Any:
            xb, yb = batch
            if spec.nan_at is not None and self.global_step + 1 == spec.nan_at:
                xb = xb * float("nan")
            loss = torch_loss(spec, self.net(xb), yb)
            self.log("train_loss", loss, on_step=True, on_epoch=False)
            if spec.nan_at is not None and not torch.isfinite(loss):
                return None  # skipped, as AMP's GradScaler skips a non-finite step
            return loss

        def validation_step(self, batch: Any, i: int) -> None:
            xb, yb = batch
            out = self.net(xb)
            if spec.objective == "val_acc":
                self.log("val_acc", (out.argmax(1) == yb).float().mean())
            else:
                self.log("val_loss", torch_loss(spec, out, yb))

        def configure_optimizers(self) -> Any:
            opt = torch_optimizer(spec, self.parameters())
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda step: lr_at(spec, step / steps_per_epoch) / spec.lr)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    class Record(Callback):
        def on_validation_epoch_end(self, trainer: Any, module: Any) -> None:
            if trainer.sanity_checking:
                return
            for k in ("val_loss", "val_acc"):
                if k in trainer.callback_metrics:
                    # CSVLogger writes the epoch's validation at the last batch's step
                    hist.add(trainer.global_step - 1, {k: float(trainer.callback_metrics[k])})

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any,
                               i: int) -> None:
            v = trainer.callback_metrics.get("train_loss")
            if v is not None and trainer.global_step % spec.log_every == 0:
                hist.add(trainer.global_step - 1, {"train_loss": float(v)})
            if (spec.kill_at is not None and trainer.global_step >= spec.kill_at * steps_per_epoch):
                trainer.should_stop = True  # the job is killed here

    root = folder
    shutil.rmtree(root, ignore_errors=True)
    torch.manual_seed(spec.seed)
    trainer = L.Trainer(
        max_epochs=spec.epochs,
        logger=CSVLogger(str(root), name="lightning_logs"),
        callbacks=[LearningRateMonitor(logging_interval="epoch"), Record()],
        log_every_n_steps=spec.log_every,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        accelerator="cpu",
    )
    trainer.fit(Module(), train, val)


# --------------------------------------------------------------------------- keras


def run_keras(spec: Spec, folder: Path, hist: History) -> None:
    import keras
    import numpy as np

    xt, yt, xv, yv = make_data(spec)
    keras.utils.set_random_seed(spec.seed)
    layers: list[Any] = [keras.Input((spec.dims,))]
    if spec.hidden:
        layers += [keras.layers.Dense(spec.hidden, activation="relu"),
                   keras.layers.Dense(spec.hidden, activation="relu")]
    if spec.task == "reg":
        layers.append(keras.layers.Dense(1))
        loss, metrics = "mse", ["mae"]
    else:
        layers.append(keras.layers.Dense(10))
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = ["accuracy"]
    model = keras.Sequential(layers)
    opt = (keras.optimizers.Adam(spec.lr) if spec.opt == "adam"
           else keras.optimizers.SGD(spec.lr))
    model.compile(optimizer=opt, loss=loss, metrics=metrics)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "training.log"
    log.unlink(missing_ok=True)
    steps_per_epoch = math.ceil(spec.n_train / spec.batch)

    class Ramp(keras.callbacks.Callback):
        """A per-batch schedule (ramps and steps), as LearningRateScheduler does per epoch."""

        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch = epoch

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            self.model.optimizer.learning_rate = lr_at(spec, self.epoch + batch / steps_per_epoch)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if logs is not None:  # CSVLogger (after this callback) writes it
                logs["learning_rate"] = float(self.model.optimizer.learning_rate)

    callbacks: list[Any] = [Ramp(), keras.callbacks.CSVLogger(str(log), append=True)]
    if spec.kind == "earlystop":
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=spec.extra["patience"], restore_best_weights=True))

    def fit(first: int, last: int) -> Any:
        h = model.fit(xt, yt, validation_data=(xv, yv), epochs=last, initial_epoch=first,
                      batch_size=spec.batch, verbose=0, shuffle=True, callbacks=callbacks)
        for i, epoch in enumerate(range(first, first + len(h.history["loss"]))):
            hist.add(epoch, {k: float(v[i]) for k, v in h.history.items()})
        return h

    if spec.resume_at is not None:
        fit(0, spec.resume_at)
        ckpt = [w.copy() for w in model.get_weights()]
        fit(spec.resume_at, spec.resume_at + 8)  # dies later; its rows stay in the log
        model.set_weights(ckpt)  # the new job starts from the checkpoint
        fit(spec.resume_at, spec.epochs)
        hist.notes["resumed"] = f"killed at epoch {spec.resume_at + 8}, resumed from {spec.resume_at}"
    else:
        h = fit(0, spec.epochs)
        if spec.kind == "earlystop":
            stopped = len(h.history["loss"])
            hist.notes["framework_stop"] = stopped - 1
            hist.notes["framework_best"] = int(np.argmin(h.history["val_loss"]))
    hist.planned = spec.epochs - 1


# --------------------------------------------------------------------------- hugging face


def run_hf(spec: Spec, folder: Path, hist: History) -> None:
    import numpy as np
    import torch
    from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments

    xt, yt, xv, yv = make_data(spec)

    class Data(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __init__(self, x: Any, y: Any) -> None:
            self.x, self.y = x, y

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"inputs": torch.from_numpy(self.x[i]), "labels": torch.tensor(self.y[i])}

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch_model(spec)

        def forward(self, inputs: Any, labels: Any) -> dict[str, Any]:
            out = self.net(inputs)
            return {"loss": torch_loss(spec, out, labels), "logits": out}

    steps_per_epoch = math.ceil(spec.n_train / spec.batch)
    max_steps = spec.epochs * steps_per_epoch
    eval_steps = steps_per_epoch * (2 if spec.epochs > 40 else 1)

    def accuracy(pred: Any) -> dict[str, float]:
        return {"accuracy": float((np.argmax(pred.predictions, 1) == pred.label_ids).mean())}

    class Kill(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if spec.kill_at is not None and state.global_step >= spec.kill_at * steps_per_epoch + 3:
                raise KeyboardInterrupt  # the job dies between checkpoints

    def args_for(tmp: str, steps: int) -> Any:
        return TrainingArguments(
            output_dir=tmp, max_steps=steps, per_device_train_batch_size=spec.batch,
            learning_rate=spec.lr, optim="sgd" if spec.opt == "sgd" else "adamw_torch",
            weight_decay=0.0, lr_scheduler_type="cosine" if spec.schedule == "cosine" else "constant",
            logging_steps=max(1, steps_per_epoch // 2), eval_strategy="steps",
            eval_steps=eval_steps, save_strategy="steps", save_steps=eval_steps,
            load_best_model_at_end=spec.kind in ("earlystop",) or spec.objective == "eval_accuracy",
            metric_for_best_model="accuracy" if spec.objective == "eval_accuracy" else "eval_loss",
            greater_is_better=spec.objective == "eval_accuracy",
            report_to=[], use_cpu=True, seed=spec.seed, data_seed=spec.seed,
            disable_tqdm=True, save_total_limit=None,
        )

    import transformers
    from transformers.trainer_callback import PrinterCallback

    transformers.logging.set_verbosity_error()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        callbacks: list[Any] = [Kill()]
        if spec.kind == "earlystop":
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=spec.extra["patience"]))
        torch.manual_seed(spec.seed)
        trainer = Trainer(
            model=Model(), args=args_for(tmp, max_steps), train_dataset=Data(xt, yt),
            eval_dataset=Data(xv, yv), callbacks=callbacks,
            compute_metrics=accuracy if spec.task == "cls" else None,
        )
        trainer.remove_callback(PrinterCallback)
        state_file: Path
        if spec.resume_at is not None:
            trainer.args.max_steps = max_steps
            kill = spec.resume_at * steps_per_epoch + 5

            class Die(TrainerCallback):
                def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                    if state.global_step >= kill:
                        raise KeyboardInterrupt

            trainer.add_callback(Die())
            try:
                trainer.train()
            except KeyboardInterrupt:
                pass
            ckpts = sorted(Path(tmp).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
            torch.manual_seed(spec.seed)
            trainer2 = Trainer(
                model=Model(), args=args_for(tmp, max_steps), train_dataset=Data(xt, yt),
                eval_dataset=Data(xv, yv),
            )
            trainer2.remove_callback(PrinterCallback)
            trainer2.train(resume_from_checkpoint=str(ckpts[-1]))
            trainer2.state.save_to_json(str(folder / "trainer_state.json"))
            log_history = trainer2.state.log_history
            hist.notes["resumed"] = f"killed at step {kill}, resumed from {ckpts[-1].name}"
        else:
            try:
                trainer.train()
                trainer.state.save_to_json(str(folder / "trainer_state.json"))
                log_history = trainer.state.log_history
            except KeyboardInterrupt:
                # what a killed job leaves: its last checkpoint's state
                ckpts = sorted(Path(tmp).glob("checkpoint-*"),
                               key=lambda p: int(p.name.split("-")[1]))
                state_file = ckpts[-1] / "trainer_state.json"
                shutil.copy(state_file, folder / "trainer_state.json")
                log_history = json.loads(state_file.read_text())["log_history"]
                hist.notes["killed_at"] = trainer.state.global_step
    for e in log_history:
        step = int(e["step"])
        for k, v in e.items():
            if k in ("loss", "eval_loss", "eval_accuracy"):
                hist.add(step, {k: float(v)})
    hist.planned = max_steps
    state = json.loads((folder / "trainer_state.json").read_text())
    if spec.kind == "earlystop":
        hist.notes["framework_best"] = state.get("best_global_step")
        hist.notes["framework_stop"] = state["global_step"]


# --------------------------------------------------------------------------- labels
#
# What the labels mean (applied to the loop's own record, never to gdei):
#
# * still improving: over the last 10% of the run (at least its last three
#   evaluations) the objective set a new best at half or more of its
#   evaluations, or gained at least 1% of its total gain (first value to best)
#   without its last evaluation turning more than 1% of that gain worse (when
#   it had turned: efficient, or still improving); a run killed mid-schedule
#   is still improving by what was done to it;
# * wasteful: the objective came within 2% of its total gain at step c with
#   more than 30% of the run after c; a right stop forgoes at most 10% of the
#   gain (stop_min) and saves at least half of the stretch after c (stop_max);
# * over-fitting: the validation objective ended >5% worse than its best
#   (1.5 points for an accuracy) while the training loss kept falling; a
#   right stop is at or before the best (stop_max) and forgoes at most 25% of
#   the gain (stop_min);
# * diverged: NaN/inf to the end, or the loss back at chance (ln 10) with no
#   NaN after having learned;
# * a framework's early stop: efficient when at most 10% of the run came
#   after its best, else over-fitting/wasteful by the same tests.


def _first(steps: list[float], vals: list[float], cond: Callable[[float], bool]) -> float:
    return next(s for s, v in zip(steps, vals, strict=True) if cond(v))


def objective_series(spec: Spec, rec: dict[str, Any]) -> tuple[list[float], list[float], str, bool]:
    """(steps, loss-like values, name, higher_is_better) the label is computed on."""
    import numpy as np

    names = {
        "val_loss": ("val_loss", "eval_loss"),
        "val_acc": ("val_acc", "val_accuracy"),
        "val_map": ("val_map",),
        "eval_accuracy": ("eval_accuracy",),
        "train": ("train_loss", "loss"),
    }[spec.objective]
    series = rec["series"]
    name = next(n for n in names if n in series)
    steps, vals = series[name]
    higher = spec.objective in ("val_acc", "val_map", "eval_accuracy")
    if spec.objective == "train":
        # per-step noise: the loop's own running mean over 100 steps
        v = np.asarray(vals, dtype=float)
        ok = np.isfinite(v)
        k = 100
        c = np.convolve(np.where(ok, v, 0.0), np.ones(k), "valid") / np.convolve(
            ok, np.ones(k), "valid"
        )
        steps, vals = list(steps[k - 1 :]), list(c)
    return list(steps), [(-x if higher else x) for x in vals], name, higher


def drop_step(spec: Spec) -> int:
    """The LR drop's step in the run's own step unit (Keras and MLflow log epochs)."""
    epoch = int(spec.schedule.split(":")[1])
    if spec.writer in ("keras", "mlflow"):
        return epoch
    return epoch * math.ceil(spec.n_train / spec.batch)


def still_improving(steps: list[float], v: Any, first: float, last: float) -> tuple[str, str]:
    """The corpus' definition of "still improving at the end" (see the top of this section).

    Returns ("yes" | "turned" | "no", why): "turned" when the last 10% gained
    but the last evaluation had already turned worse (a careful reader may
    call that efficient as well).
    """
    import numpy as np

    st = np.asarray(steps, dtype=float)
    tail = st >= last - 0.1 * (last - first)
    tail[-3:] = True  # at least the last three evaluations
    gain = v[0] - v.min()
    before = v[~tail].min() if (~tail).any() else v[0]
    tail_gain = before - v[tail].min()
    run_best = np.minimum.accumulate(v)
    prev = np.r_[np.inf, run_best[:-1]]
    new = (v < prev)[tail]
    steady = tail.sum() >= 3 and new.sum() >= 0.5 * tail.sum()
    turned = v[-1] - v.min() > 0.01 * gain
    if steady and not turned:
        return "yes", (f"set a new best at {int(new.sum())} of its {int(tail.sum())} "
                       "evaluations in the last 10% of the run")
    if steady or tail_gain >= 0.01 * gain:
        why = f"gained {100 * tail_gain / gain:.1f}% of its total gain in the last 10% of the run"
        if turned:
            return "turned", why + f", then turned {100 * (v[-1] - v.min()) / gain:.1f}% worse"
        return "yes", why
    return "no", "gained little in the last 10% of the run"


def label(spec: Spec, rec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    steps, vals, name, higher = objective_series(spec, rec)
    v = np.asarray(vals, dtype=float)
    fin = np.isfinite(v)
    shown = (lambda x: -x) if higher else (lambda x: x)
    series = rec["series"]
    tr_name = "train_loss" if "train_loss" in series else "loss"
    tr_steps, tr_vals = series[tr_name]
    tr = np.asarray(tr_vals, dtype=float)
    last_step = max(steps[-1], tr_steps[-1])
    first_step = min(steps[0], tr_steps[0])
    length = last_step - first_step
    notes = rec.get("notes", {})
    out: dict[str, Any] = {"objective": name}
    kind = spec.kind
    if kind not in ("collapse", "nan"):
        assert fin.all(), "non-finite objective"
        b = int(np.argmin(v))
        best, v0 = v[b], v[0]
        gain = v0 - best
        improving, how = still_improving(steps, v, first_step, last_step)
    if kind == "overfit":
        worse = (v[-1] - best) / abs(best)
        assert worse > 0.05 if not higher else (v[-1] - best) > 0.015, ("not worse", v[-1] - best)
        assert steps[b] < first_step + 0.7 * length, "best too late"
        tr_at_best = tr[np.searchsorted(tr_steps, steps[b], side="right") - 1]
        assert np.nanmean(tr[-5:]) < tr_at_best, "training loss did not keep falling"
        out.update(truth="over-fitting", stop_max=steps[b],
                   stop_min=_first(steps, vals, lambda x: x <= best + 0.25 * gain),
                   why=f"{name} best {shown(best):.4g} at step {steps[b]:g}, "
                       f"{shown(v[-1]):.4g} at the end (step {steps[-1]:g}); "
                       f"{tr_name} kept falling")
    elif kind == "earlystop":
        fb, fs = notes["framework_best"], notes["framework_stop"]
        waste = (fs - fb) / (fs - first_step)
        rose = (v[-1] - best) / abs(best)
        truth, also = ("efficient", []) if waste <= 0.1 else ("wasteful", ["over-fitting"])
        if waste > 0.1 and rose > 0.05:
            truth, also = "over-fitting", ["wasteful"]
        out.update(truth=truth, also=also, stop_max=fb,
                   stop_min=_first(steps, vals, lambda x: x <= best + 0.25 * gain),
                   framework_stop=fs, framework_best=fb,
                   why=f"the framework's early stopping ended the run at step {fs}, "
                       f"{100 * waste:.0f}% of the run after its best {name} at step {fb}; "
                       f"{name} there {100 * rose:+.1f}% vs its best")
    elif kind in ("plateau", "lrdrop_long"):
        conv = _first(steps, vals, lambda x: x <= best + 0.02 * gain)
        lo = _first(steps, vals, lambda x: x <= best + 0.1 * gain)
        if kind == "lrdrop_long":
            drop = drop_step(spec)
            lo = max(lo, drop)
            assert conv > drop, ("converged before the drop", conv, drop)
            pre = v[np.asarray(steps) <= drop]
            assert pre.min() - best > 0.05 * gain, "no second descent"
        waste = (last_step - conv) / length
        assert waste > 0.3, ("not wasteful", waste)
        assert improving == "no", ("still improving", how)
        out.update(truth="wasteful", stop_min=lo, stop_max=conv + (last_step - conv) / 2,
                   why=f"{name} within 2% of its total gain from step {conv:g} "
                       f"({100 * waste:.0f}% of the run after it)")
    elif kind in ("undertrain", "lrdrop_short", "killed"):
        assert improving != "no" or kind == "killed", ("not still improving", how)
        truth, also = "still improving", []
        if improving == "turned" and kind != "killed":
            truth, also = "efficient", ["still improving"]
        out.update(truth=truth, also=also,
                   why=f"{name} {how} (best {shown(best):.4g} at step {steps[b]:g})")
        if kind == "lrdrop_short":
            drop = drop_step(spec)
            out["stop_min"] = drop
            out["why"] += f"; LR dropped at step {drop}"
        if kind == "killed":
            out["cut_short"] = True
            out["why"] += (f"; killed at epoch {spec.kill_at} of a planned {spec.epochs} "
                           "(cosine schedule unfinished)")
    elif kind == "collapse":
        assert np.isfinite(tr).all(), "NaN in a collapse scenario"
        tail = tr[-len(tr) // 10 :]
        assert abs(np.median(tail) - LN10) < 0.25 * LN10, ("not at chance", np.median(tail))
        assert tr.min() < 0.6 * LN10, "never learned"
        above = tr > 0.5 * (LN10 + tr.min())
        stays = np.flatnonzero(~above)
        div = tr_steps[stays[-1] + 1]
        out.update(truth="diverged", diverged_step=div,
                   why=f"{tr_name} fell to {tr.min():.3g}, then the LR ramp pushed it back to "
                       f"chance (ln 10 = {LN10:.3f}) from about step {div:g}; no NaN")
    elif kind == "nan":
        bad = ~np.isfinite(tr)
        assert bad[-1] and bad[-len(bad) // 5 :].all(), "finite at the end"
        div = tr_steps[int(np.flatnonzero(np.isfinite(tr))[-1]) + 1]
        out.update(truth="diverged", diverged_step=div,
                   why=f"{tr_name} non-finite from step {div:g} to the end")
    else:
        raise ValueError(kind)
    if spec.nan_at is not None:
        assert not np.isfinite(tr).all()
        out["why"] += f"; one NaN batch at step {spec.nan_at}, skipped"
    if "resumed" in notes:
        out["why"] += "; " + notes["resumed"]
    return out


def record_of(hist: History) -> dict[str, Any]:
    """The loop's own record, as stored in ``records.json.gz``."""
    return {"series": {k: [list(map(float, s)), [float(x) for x in v]]
                       for k, (s, v) in hist.series.items()},
            "notes": hist.notes}


# --------------------------------------------------------------------------- build


RUNNERS: dict[str, Callable[[Spec, Path, History], None]] = {
    "tb": run_tb,
    "tbx": lambda s, f, h: run_tb(s, f, h, tbx=True),
    "mlflow": run_mlflow,
    "lightning": run_lightning,
    "keras": run_keras,
    "hf": run_hf,
}


def run_path(spec: Spec) -> str:
    """The run's path under the corpus root, as gdei names it."""
    base = f"{spec.writer}/{spec.name}"
    if spec.writer == "lightning":
        return base + "/lightning_logs/version_0"
    if spec.writer == "mlflow":
        return base + "/mlruns"  # completed below with the run folder
    return base


def build_corpus(out: Path, only: str | None = None) -> None:
    """Train (the runs matching *only*), store their records, then relabel everything."""
    import gzip

    records_file = out / "records.json.gz"
    records: dict[str, Any] = {}
    if records_file.exists():
        records = json.loads(gzip.decompress(records_file.read_bytes()))
    for spec in specs():
        key = f"{spec.writer}/{spec.name}"
        if only is not None and only not in key:
            continue
        folder = out / spec.writer / spec.name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        hist = History()
        RUNNERS[spec.writer](spec, folder, hist)
        path = run_path(spec)
        if spec.writer == "mlflow":
            run_dirs = [p for p in (folder / "mlruns").glob("*/*") if (p / "meta.yaml").is_file()]
            path = run_dirs[0].relative_to(out).as_posix()
            for trash in (folder / "mlruns").rglob(".trash"):
                shutil.rmtree(trash, ignore_errors=True)
        records = {k: v for k, v in records.items() if v["key"] != key}
        records[path] = {"key": key, **record_of(hist)}
        print(f"trained {path}", flush=True)
    records_file.write_bytes(
        gzip.compress(json.dumps(dict(sorted(records.items()))).encode(), mtime=0)
    )
    relabel(out)


def relabel(out: Path) -> None:
    """Write ``labels.json`` from the stored loop records (no training)."""
    import gzip

    records = json.loads(gzip.decompress((out / "records.json.gz").read_bytes()))
    by_key = {f"{s.writer}/{s.name}": s for s in specs()}
    labels: dict[str, Any] = {}
    failed = []
    for path, rec in sorted(records.items()):
        spec = by_key[rec["key"]]
        try:
            lab = label(spec, rec)
        except AssertionError as exc:  # the scenario did not happen: no label, say so
            failed.append(f"{path}: {exc}")
            continue
        labels[path] = {**lab, "writer": spec.writer, "scenario": spec.kind}
        print(f"{path}: {lab['truth']} — {lab['why']}", flush=True)
    (out / "labels.json").write_text(json.dumps(labels, indent=1) + "\n")
    if failed:
        raise SystemExit("scenarios that did not happen:\n" + "\n".join(failed))
