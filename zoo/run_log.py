"""What a run leaves for people: console progress, TensorBoard events, metrics JSON and a loss plot.

Layout under the run directory:

    logs/train/, logs/validation/   TensorBoard event files
    metrics.jsonl                   one JSON object per evaluation
    summary.json                    the final figures (present only once a run has finished)
    loss.png                        training and validation loss against step

(file names from `tasks.run_files`, which writes them all).
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import time

import keras
import tensorflow as tf

from tasks import run_files
from zoo.process_clock import seconds_since_process_start


def finite(value):
    """`value` with NaN and infinities as None: JSON has no such numbers (json.dump would write
    invalid JSON for them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def format_timing(timing: dict[str, float]) -> str:
    """The `Time:` line: the process's wall time so far and its parts, start-up first."""
    parts = sorted(timing.items(), key=lambda item: item[0] != "startup")
    shown = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in parts)
    return f"Time: {sum(timing.values()):.1f} s since the process started: {shown}"


def add_timing(model_dir: str, **seconds: float) -> dict[str, float]:
    """Adds parts (the export) to the timing in the run's summary.json; returns the whole."""
    path = os.path.join(model_dir, run_files.SUMMARY)
    with open(path, encoding="utf-8") as f:
        summary = json.load(f)
    if seconds:
        summary["timing"] = {**summary.get("timing", {}), **seconds}
        run_files.write_json(path, summary, allow_nan=False)
    return summary.get("timing", {})


def format_metrics(metrics: dict) -> str:
    """`loss 1.7884, perplexity 5.9801, ...`: the numbers of a metrics dict (tables left out)."""
    shown = [f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, (int, float))]
    return ", ".join(shown)


class Progress:
    """A live Keras progress bar on a terminal; into a file or pipe, a line now and then.

    A log file gets a line every `every` steps (default: about every 5% of the run), at the last
    step and at each evaluation, so a 2,500-step run writes a few dozen lines, not hundreds.
    """

    LINES_PER_RUN = 20

    def __init__(self, target: int, start: int, enabled: bool = True, every: int | None = None):
        self.target = target
        self.enabled = enabled
        self.interactive = enabled and sys.stdout.isatty()
        self.every = every or max(1, round(target / self.LINES_PER_RUN))
        self.began = time.time()
        self.start = start
        self.bar = keras.utils.Progbar(
            target,
            stateful_metrics=["loss", "tok/s", "val_loss"],
            verbose=1 if self.interactive else 0,
        )
        if start and self.interactive:
            self.bar.update(start)

    def wants_line(self, step: int) -> bool:
        """Whether a log file gets a line for `step` (the bar takes every update)."""
        return step % self.every == 0 or step == self.target

    def update(self, step: int, loss: float, tokens_per_second: float) -> None:
        if self.interactive:
            self.bar.update(step, [("loss", loss), ("tok/s", round(tokens_per_second))])
        elif self.enabled and self.wants_line(step):
            rate = (step - self.start) / max(time.time() - self.began, 1e-9)
            eta = (self.target - step) / max(rate, 1e-9)
            print(
                f"step {step}/{self.target}  loss {loss:.4f}  {tokens_per_second:,.0f} tok/s  "
                f"ETA {eta:.0f}s",
                flush=True,
            )

    def evaluation(self, step: int, metrics: dict[str, float]) -> None:
        if self.interactive:
            self.bar.update(step, [("val_loss", metrics["loss"])])
        elif self.enabled:
            print(f"step {step}/{self.target}  validation: {format_metrics(metrics)}", flush=True)


class RunLog:
    """Writes the run's records; on non-chief workers (`enabled=False`) it only keeps quiet."""

    def __init__(self, model_dir: str, enabled: bool = True):
        self.model_dir = model_dir
        self.enabled = enabled
        self.train_points: list[tuple[int, float]] = []
        self.eval_points: list[tuple[int, float]] = []
        if not enabled:
            return
        os.makedirs(model_dir, exist_ok=True)
        logs = os.path.join(model_dir, run_files.LOGS)
        self._train_writer = tf.summary.create_file_writer(os.path.join(logs, "train"))
        self._eval_writer = tf.summary.create_file_writer(os.path.join(logs, "validation"))
        self._load_history()

    def _load_history(self) -> None:
        """Keeps the plot whole across a resume by reading back earlier evaluations."""
        for record in self.records():
            if record.get("train_loss") is not None:
                self.train_points.append((record["step"], record["train_loss"]))
            self.eval_points.append((record["step"], record["validation"]["loss"]))

    def records(self) -> list[dict]:
        """Every evaluation record of metrics.jsonl that is whole (a kill can cut the last)."""
        path = os.path.join(self.model_dir, run_files.METRICS)
        if not os.path.isfile(path):
            return []
        out = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and "step" in record and "validation" in record:
                    out.append(record)
        return out

    def last_record(self) -> dict:
        records = self.records()
        return records[-1] if records else {}

    def info(self, message: str) -> None:
        if self.enabled:
            print(message, flush=True)

    def progress(self, target: int, start: int, every: int | None = None) -> Progress:
        return Progress(target, start, enabled=self.enabled, every=every)

    def train(self, step: int, loss: float, learning_rate: float, tokens_per_second: float) -> None:
        if not self.enabled:
            return
        with self._train_writer.as_default(step=step):
            tf.summary.scalar("loss", loss)
            tf.summary.scalar("learning_rate", learning_rate)
            tf.summary.scalar("tokens_per_second", tokens_per_second)

    def evaluation(
        self, step: int, train_loss: float, metrics: dict[str, float], seconds: float
    ) -> None:
        if not self.enabled:
            return
        with self._eval_writer.as_default(step=step):
            for name, value in metrics.items():
                if isinstance(value, (int, float)):  # a confusion matrix stays in the JSON
                    tf.summary.scalar(name, value)
        self._train_writer.flush()
        self._eval_writer.flush()
        record = {"step": step, "train_loss": train_loss, "validation": metrics,
                  "train_seconds": seconds, "process_seconds": seconds_since_process_start()}
        run_files.append_json_line(os.path.join(self.model_dir, run_files.METRICS),
                                   finite(record), allow_nan=False)
        self.train_points.append((step, train_loss))
        self.eval_points.append((step, metrics["loss"]))
        self.plot()

    def plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        if self.train_points:
            ax.plot(*zip(*self.train_points), label="train", marker=".")
        if self.eval_points:
            ax.plot(*zip(*self.eval_points), label="validation", marker="o")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (nats/token)")
        ax.set_title(os.path.basename(os.path.normpath(self.model_dir)))
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        image = io.BytesIO()
        fig.savefig(image, format="png", dpi=100)
        plt.close(fig)
        run_files.write_atomically(os.path.join(self.model_dir, run_files.PLOT), image.getvalue())

    def summary(
        self,
        step: int,
        train_loss: float,
        validation: dict[str, float],
        seconds: float,
        tokens_per_second: float,
        report: dict[str, str],
        timing: dict[str, float] | None = None,
    ) -> None:
        """Writes summary.json and prints the end of the run: figures, where the time went, then
        the task's report (a text sample, say) under a heading per entry."""
        if not self.enabled:
            return
        summary = {
            "step": step,
            "train_loss": train_loss,
            "validation": validation,
            "train_seconds": seconds,
            "tokens_per_second": tokens_per_second,
            "timing": timing or {},
            **report,
        }
        run_files.write_json(os.path.join(self.model_dir, run_files.SUMMARY), finite(summary),
                             allow_nan=False)
        lines = [
            "",
            f"Finished {step} steps in {seconds:.1f} s ({tokens_per_second:,.0f} tokens/s).",
            "Validation: " + format_metrics(validation),
            f"Run directory: {self.model_dir}",
        ]
        for name, text in report.items():
            lines += [f"{name.capitalize()}:", text]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        if self.enabled:
            self._train_writer.close()
            self._eval_writer.close()
