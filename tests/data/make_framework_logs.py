"""Write small logs with the frameworks' own writers (run once; outputs committed).

Each block trains a tiny model for a few steps with the framework and keeps
only the log file it writes:

* ``writers/lightning/lightning_logs/version_0/metrics.csv``: PyTorch Lightning
  ``CSVLogger`` (+ ``hparams.yaml``), with ``LearningRateMonitor``;
* ``writers/keras/training.log``: Keras 3 ``CSVLogger`` on the torch backend,
  then a resumed fit appending to the same file;
* ``writers/hf/trainer_state.json``: Hugging Face ``Trainer`` with evaluation
  and ``EarlyStoppingCallback``;
* ``writers/mlflow/mlruns/``: MLflow's file store (``mlflow.log_metric``);
* ``writers/sb3/log/progress.csv``: Stable-Baselines3's CSV logger (PPO on
  CartPole with an ``EvalCallback``).

With ``--eval``, it writes the labelled evaluation corpus instead
(``tests/data/eval/``, see ``eval_scenarios.py``): about forty small real
training runs, each labelled from its own training loop's record.

Needs: torch==2.13.0 lightning keras transformers accelerate mlflow-skinny
tensorboardX stable-baselines3 gymnasium (not gdei's test dependencies: the outputs are committed).
Run: python tests/data/make_framework_logs.py [OUT_DIR]
     python tests/data/make_framework_logs.py --eval [NAME_FILTER]
     python tests/data/make_framework_logs.py --relabel   (labels from stored records)
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
# MLflow 3 keeps the file store (what runs left in mlruns/ folders) behind this switch
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

HERE = Path(__file__).resolve().parent


def lightning_log(out: Path) -> None:
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger

    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = x @ torch.randn(8, 1) + 0.1 * torch.randn(256, 1)
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:64], y[:64]), batch_size=32)

    class Tiny(L.LightningModule):
        def __init__(self, lr: float = 0.05) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Linear(8, 1)

        def training_step(self, batch, _):  # type: ignore[no-untyped-def]
            xb, yb = batch
            loss = torch.nn.functional.mse_loss(self.net(xb), yb)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch, _):  # type: ignore[no-untyped-def]
            xb, yb = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(xb), yb))

        def configure_optimizers(self):  # type: ignore[no-untyped-def]
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    root = out / "lightning"
    shutil.rmtree(root, ignore_errors=True)
    trainer = L.Trainer(
        max_epochs=4,
        logger=CSVLogger(str(root), name="lightning_logs"),
        callbacks=[LearningRateMonitor(logging_interval="epoch")],
        log_every_n_steps=4,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Tiny(), train, val)


def keras_log(out: Path) -> None:
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(256, 1))).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    folder = out / "keras"
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "training.log"
    log.unlink(missing_ok=True)
    model.fit(x, y, validation_split=0.25, epochs=4, verbose=0,
              callbacks=[keras.callbacks.CSVLogger(str(log))])
    # the job is restarted from the epoch-2 checkpoint and appends to the log
    model.fit(x, y, validation_split=0.25, epochs=6, initial_epoch=2, verbose=0,
              callbacks=[keras.callbacks.CSVLogger(str(log), append=True)])


def hf_log(out: Path) -> None:
    import torch
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

    torch.manual_seed(0)
    x = torch.randn(128, 8)
    y = x @ torch.randn(8, 1)

    class Data(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __init__(self, n: int) -> None:
            self.n = n

        def __len__(self) -> int:
            return self.n

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return {"inputs": x[i], "labels": y[i]}

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(8, 1)

        def forward(self, inputs: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"loss": torch.nn.functional.mse_loss(self.net(inputs), labels)}

    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, max_steps=40, per_device_train_batch_size=8, learning_rate=0.05,
            logging_steps=4, eval_strategy="steps", eval_steps=8, save_strategy="steps",
            save_steps=8, load_best_model_at_end=True, metric_for_best_model="eval_loss",
            report_to=[], use_cpu=True, seed=0,
        )
        trainer = Trainer(
            model=Tiny(), args=args, train_dataset=Data(128), eval_dataset=Data(32),
            callbacks=[EarlyStoppingCallback(early_stopping_patience=2)],
        )
        trainer.train()
        folder = out / "hf"
        folder.mkdir(parents=True, exist_ok=True)
        trainer.state.save_to_json(str(folder / "trainer_state.json"))


def mlflow_log(out: Path) -> None:
    import mlflow

    root = out / "mlflow" / "mlruns"
    shutil.rmtree(root.parent, ignore_errors=True)
    root.mkdir(parents=True)
    mlflow.set_tracking_uri(root.as_uri())
    mlflow.set_experiment("tiny")
    with mlflow.start_run(run_name="tiny-run"):
        mlflow.log_param("lr", 0.05)
        for step in range(20):
            mlflow.log_metric("loss", 2.0 / (1 + step), step=step)
            if step % 5 == 0:
                mlflow.log_metric("val/loss", 2.2 / (1 + step), step=step)


def sb3_log(out: Path) -> None:
    """Stable-Baselines3's CSV logger: PPO on CartPole with an EvalCallback."""
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.logger import configure

    folder = out / "sb3" / "log"
    shutil.rmtree(folder.parent, ignore_errors=True)
    model = PPO("MlpPolicy", gym.make("CartPole-v1"), n_steps=256, batch_size=64, seed=0,
                device="cpu", verbose=0)
    model.set_logger(configure(str(folder), ["csv"]))
    model.learn(total_timesteps=4096, callback=EvalCallback(
        gym.make("CartPole-v1"), eval_freq=512, n_eval_episodes=3, verbose=0))


if __name__ == "__main__":
    if sys.argv[1:2] in (["--eval"], ["--relabel"]):
        sys.path.insert(0, str(HERE))
        from eval_scenarios import build_corpus, relabel

        if sys.argv[1] == "--relabel":
            relabel(HERE / "eval")
        else:
            build_corpus(HERE / "eval", only=sys.argv[2] if len(sys.argv) > 2 else None)
        sys.exit(0)
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "writers"
    for make in (lightning_log, keras_log, hf_log, mlflow_log, sb3_log):
        make(target)
        print("wrote", make.__name__, file=sys.stderr)
