"""The run folder: everything needed to evaluate, predict, report and serve a trained model.

``runs/<lab>/<run-id>/`` holds ``config.json`` (lab, preset, seed, resolved config),
``env.json`` (versions, device, seed), ``state.json`` + ``state.safetensors`` (fitted
preprocessing), ``model.safetensors`` (weights), ``history.csv``, ``metrics.json`` (test metrics
with baselines), ``plots/*.png`` and ``report.html``; ``checkpoint.pt`` while training is under
way. Every file is written atomically (temp file, then rename), so an interrupted write never
leaves a half file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from dlabs import paths
from dlabs.paths import atomic_write
from dlabs.errors import DlabsError
from dlabs.jsonable import jsonable


class Run:
    """A run folder on disk."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def lab(self) -> str:
        return self.read_json("config.json")["lab"]

    @classmethod
    def create(cls, lab: str, preset: str, runs: str | Path | None = None) -> "Run":
        root = paths.runs_dir(runs) / lab
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for i in range(1000):
            path = root / (f"{stamp}-{preset}" + (f"-{i}" if i else ""))
            try:
                path.mkdir(parents=True)
                return cls(path)
            except FileExistsError:
                continue
        raise DlabsError(f"cannot create a run folder under {root}")

    @classmethod
    def open(cls, ref: str | Path, lab: str | None = None, runs: str | Path | None = None) -> "Run":
        """A run by path, by id under ``runs/<lab>/``, or ``latest`` for the lab's newest run."""
        path = Path(ref).expanduser()
        if not path.is_dir() and lab is not None:
            if str(ref) == "latest":
                found = latest(lab, runs)
                if found is None:
                    raise DlabsError(f"no trained run of '{lab}' in {paths.runs_dir(runs) / lab}; "
                                     f"train one with: dlabs train {lab}")
                return found
            path = paths.runs_dir(runs) / lab / str(ref)
        if not (path / "config.json").is_file():
            raise DlabsError(f"{ref}: not a run folder (no config.json)")
        return cls(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def exists(self, name: str) -> bool:
        return (self.path / name).exists()

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write(self.path / name, json.dumps(jsonable(obj), indent=2) + "\n")

    def read_json(self, name: str) -> Any:
        try:
            return json.loads((self.path / name).read_text())
        except FileNotFoundError:
            raise DlabsError(f"{self.path}: missing {name}") from None
        except (ValueError, RecursionError) as e:
            raise DlabsError(f"{self.path / name}: not valid JSON ({e})") from None

    # weights and preprocessing state --------------------------------------------------------
    def save_weights(self, model) -> None:
        from safetensors.torch import save_model

        tmp = self.path / ".model.safetensors.tmp"
        try:
            save_model(model, str(tmp))
            os.replace(tmp, self.path / "model.safetensors")
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise paths.write_error(self.path / "model.safetensors", e) from None

    def load_weights(self, model) -> None:
        from safetensors.torch import load_model

        if not self.exists("model.safetensors"):
            raise DlabsError(f"{self.path}: no model.safetensors (training did not finish; "
                             f"resume with: dlabs train --resume {self.path})")
        try:
            load_model(model, str(self.path / "model.safetensors"), device="cpu")
        except Exception as e:  # safetensors' header errors, a shape or key mismatch: never unpickled
            raise _unreadable(self.path / "model.safetensors", e) from None

    def save_state(self, state: dict) -> None:
        """Preprocessing state: NumPy arrays go to safetensors, everything else to JSON."""
        from safetensors.numpy import save

        arrays = {k: np.ascontiguousarray(v) for k, v in state.items() if isinstance(v, np.ndarray)}
        rest = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
        atomic_write(self.path / "state.safetensors", save(arrays))
        self.write_json("state.json", rest)

    def load_state(self) -> dict:
        from safetensors.numpy import load

        state = self.read_json("state.json")
        if self.exists("state.safetensors"):
            try:
                state.update(load((self.path / "state.safetensors").read_bytes()))
            except Exception as e:
                raise _unreadable(self.path / "state.safetensors", e) from None
        return state

    def save_history(self, history: list[dict]) -> None:
        import pandas as pd

        atomic_write(self.path / "history.csv", pd.DataFrame(history).to_csv(index=False))

    def history(self):
        import pandas as pd

        return pd.read_csv(self.path / "history.csv") if self.exists("history.csv") else pd.DataFrame()

    def plots_dir(self) -> Path:
        d = self.path / "plots"
        d.mkdir(exist_ok=True)
        return d


def _unreadable(path: Path, e: Exception) -> DlabsError:
    first = (str(e).strip().splitlines() or [e.__class__.__name__])[0][:160]
    return DlabsError(f"{path}: not a readable {path.name} of this run ({first}); the file is damaged or from "
                      "another model: copy the run folder again or train a new run")


def runs_of(lab: str, runs: str | Path | None = None) -> list[Run]:
    """Finished runs (those with weights) of a lab, oldest first."""
    root = paths.runs_dir(runs) / lab
    if not root.is_dir():
        return []
    found = [Run(p) for p in root.iterdir() if (p / "model.safetensors").is_file() and (p / "config.json").is_file()]
    return sorted(found, key=lambda r: (r.path / "model.safetensors").stat().st_mtime)


def latest(lab: str, runs: str | Path | None = None, preset: str | None = None) -> Run | None:
    found = [r for r in runs_of(lab, runs) if preset is None or r.read_json("config.json")["preset"] == preset]
    return found[-1] if found else None
