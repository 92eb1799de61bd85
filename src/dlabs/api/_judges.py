"""What a study measured, in words: each study's judge reads its variants' results (histories and
scores) and says what happened, with the numbers, and whether the textbook expectation showed."""

from __future__ import annotations

import math


# what a judge reads ----------------------------------------------------------------------------
def _col(row: dict, col: str) -> list[float]:
    return [h[col] for h in row["history"] if isinstance(h.get(col), (int, float)) and math.isfinite(h[col])]


def _at(row: dict, col: str, epoch: int) -> float:
    values = _col(row, col)
    return values[min(epoch, len(values)) - 1] if values else float("nan")


def _s(row: dict, key: str) -> float:
    return float(row["scores"].get(key, float("nan")))


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _close(holds: bool, yes: str, no: str) -> str:
    return f" As the textbook expects, {yes}." if holds else f" The textbook expectation does not show here: {no}."


# the judges ------------------------------------------------------------------------------------
def standardise(rows):
    on, off = rows
    t_on, t_off = _s(on, "test_rmse"), _s(off, "test_rmse")
    early = max(1, len(_col(on, "val_loss")) // 10)
    e_on, e_off = math.sqrt(_at(on, "val_loss", early)), math.sqrt(_at(off, "val_loss", early))
    holds = t_on < t_off and e_on < e_off
    text = (f"After {early} epoch(s) the validation RMSE was {e_on:.2f} with standardised features and {e_off:.2f} "
            f"with raw ones; at the end the test RMSE was {t_on:.2f} against {t_off:.2f} (thousand dollars).")
    return {"holds": holds, "finding": text + _close(holds, "the network learns faster and ends better on scaled "
                                                            "inputs", "the raw features did as well or better")}


def capacity(rows):
    for r in rows:  # the training rows' RMSE in dollars: the loss is MSE on the target as the scaler left it
        r["scores"]["train_rmse"] = math.sqrt(_s(r, "train_loss")) * _s(r, "target_scale")
    train, test = [_s(r, "train_rmse") for r in rows], [_s(r, "test_rmse") for r in rows]
    parts = "; ".join(f"{r['label']}: train {a:.2f}, test {b:.2f}" for r, a, b in zip(rows, train, test))
    best = min(range(len(rows)), key=lambda i: test[i])
    grows = train[-1] < train[0] and (test[-1] - train[-1]) > (test[0] - train[0])
    holds = grows and best < len(rows) - 1
    text = (f"RMSE in thousand dollars, {parts}. The gap between test and training error goes from "
            f"{test[0] - train[0]:.2f} to {test[-1] - train[-1]:.2f}; the lowest test error is {rows[best]['label']}'s.")
    no = (f"the gap grew, but the largest network still had the lowest test error: on these 404 houses and "
          f"{len(_col(rows[-1], 'train_loss'))} epochs it memorised without losing ground on new ones" if grows
          else "the gap between training and test error did not grow with the network")
    return {"holds": holds, "finding": text + _close(
        holds, "training error keeps falling as the network grows while test error stops improving, so only the "
               "held-out rows tell a better model from a better memoriser", no)}


def epochs(rows):
    (row,) = rows
    val, train = _col(row, "val_loss"), _col(row, "train_loss")
    best = val.index(min(val)) + 1
    stop = min(best + 2, len(val))
    holds = best < len(val) and train[-1] < train[best - 1]
    text = (f"Training loss fell from {train[0]:.3f} (epoch 1) to {train[-1]:.3f} (epoch {len(train)}). Validation "
            f"loss was lowest after epoch {best} ({val[best - 1]:.3f}, accuracy {_pct(_at(row, 'val_accuracy', best))}) "
            f"and was {val[-1]:.3f} after epoch {len(val)} (accuracy {_pct(_at(row, 'val_accuracy', len(val)))}). "
            f"Early stopping with patience 2 (the manual preset's) would stop after epoch {stop} and keep epoch {best}. "
            f"Test accuracy of the model trained to the last epoch: {_pct(_s(row, 'test_accuracy'))}.")
    return {"holds": holds, "marks": [{"epoch": best, "label": f"lowest validation loss (epoch {best})"}],
            "finding": text + _close(holds, "the validation loss turns up while the training loss keeps falling",
                                     "the validation loss was still falling at the last epoch")}


def _gap(row, metric="accuracy") -> float:
    return _s(row, f"train_{metric}") - _s(row, f"val_{metric}")


def dropout(rows):
    parts = "; ".join(f"{r['label']}: training {_pct(_s(r, 'train_accuracy'))}, validation "
                      f"{_pct(_s(r, 'val_accuracy'))}, test {_pct(_s(r, 'test_accuracy'))}" for r in rows)
    holds = _gap(rows[1]) < _gap(rows[0]) and _s(rows[1], "val_accuracy") >= _s(rows[0], "val_accuracy")
    return {"holds": holds, "finding": f"Accuracy with the weights in eval mode, {parts}." + _close(
        holds, f"dropout narrows the gap between training and validation accuracy ({_pct(_gap(rows[0]))} without, "
               f"{_pct(_gap(rows[1]))} with p=0.2) without costing validation accuracy",
        f"the gap was {_pct(_gap(rows[0]))} without dropout and {_pct(_gap(rows[1]))} with p=0.2, and validation "
        f"accuracy {_pct(_s(rows[0], 'val_accuracy'))} against {_pct(_s(rows[1], 'val_accuracy'))}")}


def batch_size(rows):
    secs = [_s(r, "seconds_per_epoch") for r in rows]
    acc = [_at(r, "val_accuracy", 10 ** 6) for r in rows]
    parts = "; ".join(f"{r['label']}: {s:.2f} s an epoch, validation accuracy {_pct(a)}"
                      for r, s, a in zip(rows, secs, acc))
    holds = secs[0] > secs[-1] and acc[0] > acc[-1]
    return {"holds": holds, "finding": f"Over the same number of epochs, {parts}." + _close(
        holds, "larger batches run an epoch faster but, taking fewer steps, end less accurate",
        "larger batches were not both faster per epoch and less accurate")}


def _curves_race(rows, what: str, first: str, yes: str, no: str):
    end = [_at(r, "val_accuracy", 10 ** 6) for r in rows]
    start = [_at(r, "val_accuracy", 2) for r in rows]
    parts = "; ".join(f"{r['label']}: {_pct(a)} after 2 epochs, {_pct(b)} at the end" for r, a, b in zip(rows, start, end))
    lead = [r["label"] for r in rows].index(first)
    holds = end[lead] >= max(end) - 0.002 and start[lead] >= max(start) - 0.002
    return {"holds": holds, "finding": f"Validation accuracy by {what}, {parts}." + _close(holds, yes, no)}


def optimizer(rows):
    end = {r["label"]: _at(r, "val_accuracy", 10 ** 6) for r in rows}
    parts = "; ".join(f"{r['label']}: {_pct(_at(r, 'val_accuracy', 2))} after 2 epochs, {_pct(end[r['label']])} at the "
                      "end" for r in rows)
    holds = min(end["Adam"], end["RMSprop"]) > end["SGD"]
    return {"holds": holds, "finding": f"Validation accuracy at the same learning rate (0.001), {parts}." + _close(
        holds, "the adaptive optimizers (Adam, RMSprop) get much further than plain SGD with momentum at the same "
               "rate, because they scale each weight's step", "plain SGD kept up with the adaptive optimizers")}


def activation(rows):
    return _curves_race(rows, "activation", "ReLU", "ReLU learns fastest and ends best; the sigmoid, whose gradient "
                        "vanishes for large inputs, trails", "ReLU was not ahead both early and at the end")


def batchnorm(rows):
    on, off = rows
    holds = _at(on, "val_accuracy", 1) > _at(off, "val_accuracy", 1) and _s(on, "test_accuracy") > _s(off, "test_accuracy")
    text = (f"With batch normalisation: validation accuracy {_pct(_at(on, 'val_accuracy', 1))} after one epoch, test "
            f"accuracy {_pct(_s(on, 'test_accuracy'))}, {_s(on, 'seconds_per_epoch'):.1f} s an epoch; without: "
            f"{_pct(_at(off, 'val_accuracy', 1))}, {_pct(_s(off, 'test_accuracy'))}, {_s(off, 'seconds_per_epoch'):.1f} s.")
    return {"holds": holds, "finding": text + _close(
        holds, "the same network learns faster and ends more accurate with batch normalisation",
        "batch normalisation did not lead both after the first epoch and on the test set")}


def conv(rows):
    mlp, cnn = rows
    holds = _s(cnn, "test_accuracy") > _s(mlp, "test_accuracy")
    text = "; ".join(f"{r['label']}: {int(_s(r, 'parameters')):,} weights, test accuracy {_pct(_s(r, 'test_accuracy'))}"
                     for r in rows) + "."
    return {"holds": holds, "finding": text + _close(
        holds, "with about as many weights, the convolutions' shared local filters beat dense layers on all pixels",
        "the dense network did as well as the convolutional one")}


def age_loss(rows):
    mse, l1 = rows
    holds = _s(l1, "test_age_mae") < _s(mse, "test_age_mae") and _s(mse, "test_age_rmse") < _s(l1, "test_age_rmse")
    text = "; ".join(f"trained on {r['label']}: test MAE {_s(r, 'test_age_mae'):.2f} years, RMSE "
                     f"{_s(r, 'test_age_rmse'):.2f} years" for r in rows) + "."
    both = [r["label"] for r in rows if all(_s(r, k) <= min(_s(o, k) for o in rows) for k in ("test_age_mae", "test_age_rmse"))]
    no = f"the head trained on {both[0]} had the lower error on both metrics" if both else "no loss won on its own metric"
    return {"holds": holds, "finding": text + _close(
        holds, "each loss wins on its own metric: MAE training gives the lower MAE, MSE training the lower RMSE", no)}


def augment(rows):
    off, on = rows
    holds = _gap(on, "age_mae") > _gap(off, "age_mae") and _s(on, "test_age_mae") < _s(off, "test_age_mae")
    text = "; ".join(f"{r['label']}: age MAE {_s(r, 'train_age_mae'):.2f} on the training faces, "
                     f"{_s(r, 'val_age_mae'):.2f} on validation, {_s(r, 'test_age_mae'):.2f} on test" for r in rows) + "."
    underfit = _s(on, "val_age_mae") > _s(off, "val_age_mae") and _s(on, "train_age_mae") > _s(off, "train_age_mae")
    no = (f"the network still underfits after {on['epochs']} epochs (its training error is close to its validation "
          "error), so harder, varied batches only slowed its learning" if underfit
          else "augmentation did not both narrow the train-validation gap and lower the test error")
    return {"holds": holds, "finding": text + _close(
        holds, "random shifts and flips made fresh variants of each face every epoch: the training error rises, the "
               "gap to unseen faces narrows and the test error falls", no)}


def upsampling(rows):
    near, bil = rows
    gain = _s(bil, "test_psnr") - _s(near, "test_psnr")
    holds = gain > 0
    text = "; ".join(f"{r['label']}: PSNR {_s(r, 'test_psnr'):.2f} dB, SSIM {_s(r, 'test_ssim'):.3f}, colourfulness "
                     f"{_s(r, 'test_colorfulness_ratio'):.2f} of the originals'" for r in rows) + "."
    return {"holds": holds, "finding": text + _close(
        holds, f"interpolating instead of repeating pixels gives smoother colour and a higher PSNR (+{gain:.2f} dB; "
               "PSNR also rewards greyer colour, so read it with the colourfulness)",
        f"nearest up-sampling did as well (bilinear {gain:+.2f} dB): the colour is recombined with the photo's own "
        "full-resolution lightness, and ab is up-sampled bilinearly to full size afterwards anyway")}
