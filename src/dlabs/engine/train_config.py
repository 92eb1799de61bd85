"""The training engine's settings: a frozen dataclass with no heavy imports, so that a lab's
config (and `dlabs list`) can be read without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

from dlabs.config import option


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = option(10, "passes over the training data")
    batch_size: int = option(32, "examples per optimizer step")
    lr: float = option(1e-3, "learning rate (the peak rate for onecycle)")
    optimizer: str = option("adam", "adam | adamw | rmsprop | keras_rmsprop (Keras' form: epsilon inside the square "
                                    "root) | sgd")
    weight_decay: float = option(0.0, "L2 penalty (decoupled for adamw)")
    eps: float = option(0.0, "epsilon of adam, adamw and rmsprop; 0 = the default (PyTorch's 1e-8 for adam and adamw, "
                             "Keras' 1e-7 for rmsprop); Keras uses 1e-7 for all three")
    momentum: float = option(0.9, "momentum for sgd")
    schedule: str = option("none", "learning-rate schedule: none | cosine | onecycle | plateau")
    patience: int = option(0, "early stopping: epochs without improvement of `monitor` before stopping; 0 = off")
    monitor: str = option("val_loss", "history column watched by early stopping, plateau and best-weights")
    mode: str = option("min", "min | max: whether a smaller or larger `monitor` is better")
    restore_best: bool = option(True, "end with the weights of the best epoch by `monitor` (needs a validation set)")
    grad_clip: float = option(0.0, "clip the gradient norm to this value; 0 = off")
    max_seconds: float = option(0.0, "stop after the epoch that passes this wall-clock budget; 0 = no budget")
    amp: bool = option(False, "bfloat16 autocast on CPUs with native bfloat16 (AVX512-BF16 or AMX; ignored on "
                              "others, where it would be slower); on CUDA mixed precision is always on (bfloat16, "
                              "or float16 with gradient scaling on GPUs without bfloat16)")
    amp_cpu: str = option("autocast", "how `amp` computes on such a CPU: autocast (bfloat16 tensors) | matmul "
                                      "(float32 tensors; oneDNN multiplies matrices in bfloat16 inside its kernels: no "
                                      "casts, faster for MLPs)")
    fused: bool = option(False, "fused Adam, AdamW and keras_rmsprop kernels on CPU and CUDA: the same algorithm, "
                                "faster, rounding differs slightly from the default implementation")
    fast_dropout: bool = option(False, "on CPU, dropout masks from 16 random bits per element (one random draw for "
                                       "four elements; the rate rounded to 1/65,536): the same dropout, faster")
    flush_denormals: bool = option(True, "on CPU (Linux), float32 values below 1.2e-38 (denormals) count as "
                                         "zero while training, as in TensorFlow: faster (x86 computes on denormals "
                                         "many times slower), results the same in practice; false keeps IEEE "
                                         "arithmetic")
    threads: int = option(0, "CPU threads for PyTorch's operators; 0 = PyTorch's default (one per core), fewer "
                             "while other processes take cores; -1 = one per core that other processes leave "
                             "idle, measured when training starts and after every epoch. Small models run "
                             "faster on 1, and a busy CPU makes several threads stall")
