"""Smoothing the labels of a stream: EMA on the probabilities, hysteresis on the shown class.

Per-window predictions of a live model flicker: on a frame where two actions look alike, the top class may
change for one label and back. Two stateful smoothers, applied to each label's probability vector in order:

  Ema(a)                  p'_t = a p'_{t-1} + (1 - a) p_t, with p'_0 = p_0 (a in [0, 1); 0 is off). Smooth
                          probabilities; a change takes effect gradually (after about 1 / (1 - a) labels).
  Hysteresis(k, margin)   the shown class c_t. Let n_t be the top class of p_t (ties: the lower index). c_0 = n_0.
                          While n_t == c_{t-1} the shown class stays. Otherwise c_t = n_t as soon as
                            - n_t has been the top class for k consecutive labels (t - k + 1 .. t), or
                            - p_t[n_t] - p_t[c_{t-1}] >= margin (when a margin is given),
                          and c_t = c_{t-1} else. So a new action lasting k labels or more is shown, at most
                          k - 1 labels late (at once when it leads by the margin); a different top class for
                          fewer than k labels in a row that never leads by the margin is never shown.
                          k = 1 (and no margin) shows the top class of every label.

`Smoother` chains them (EMA first; the hysteresis then reads the smoothed probabilities). All are pure numpy,
keep their state between calls and forget it with reset() (a new stream, a reconnect).

    smoother = Smoother(ema=0.5, k=3, margin=0.3)
    for probs in label_probabilities:          # [K] each, e.g. Prediction.probs
        shown = smoother(probs)                 # .probs (smoothed), .label (shown class), .changed
"""
import dataclasses
from typing import Optional

import numpy as np

from vtn_jax.errors import UserError


class Ema:
    """Exponential moving average of probability vectors: p'_t = a p'_{t-1} + (1 - a) p_t, p'_0 = p_0."""

    def __init__(self, factor: float):
        if not 0.0 <= factor < 1.0:
            raise UserError(f'the EMA factor (smoothing) must be in [0, 1), got {factor}')
        self.factor = float(factor)
        self._state: Optional[np.ndarray] = None

    def reset(self) -> None:
        self._state = None

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        probs = np.asarray(probs, np.float64)
        if self._state is None or not self.factor:
            self._state = probs.copy()
        else:
            self._state = self.factor * self._state + (1.0 - self.factor) * probs
        return self._state.copy()


class Hysteresis:
    """The shown class changes only when the new top class has led for `k` consecutive labels, or leads the
    shown class by `margin` (a probability difference) on one label; see the module docstring."""

    def __init__(self, k: int = 1, margin: Optional[float] = None):
        if int(k) != k or k < 1:
            raise UserError(f'the hysteresis length k must be an integer >= 1 (labels), got {k}')
        if margin is not None and not 0.0 <= margin <= 1.0:
            raise UserError(f'the hysteresis margin must be a probability difference in [0, 1], got {margin}')
        self.k, self.margin = int(k), margin
        self.reset()

    def reset(self) -> None:
        self.shown: Optional[int] = None
        self._leader: Optional[int] = None  # the top class that is not the shown one, and for how many labels
        self._run = 0

    def __call__(self, probs: np.ndarray) -> int:
        """The class to show for this label."""
        probs = np.asarray(probs)
        top = int(np.argmax(probs))
        if self.shown is None or top == self.shown:
            self.shown, self._leader, self._run = top, None, 0
            return top
        self._run = self._run + 1 if top == self._leader else 1
        self._leader = top
        if self._run >= self.k or (self.margin is not None and probs[top] - probs[self.shown] >= self.margin):
            self.shown, self._leader, self._run = top, None, 0
        return self.shown


@dataclasses.dataclass(frozen=True)
class Smoothed:
    """One smoothed label."""
    probs: np.ndarray  # [K] the EMA-smoothed probabilities (the input when the EMA is off)
    label: int  # the shown class
    changed: bool  # the shown class differs from the previous label's (False for the first)


class Smoother:
    """EMA (factor `ema`, 0: off), then hysteresis (`k`, `margin`) on the smoothed probabilities."""

    def __init__(self, ema: float = 0.0, k: int = 1, margin: Optional[float] = None):
        self.ema, self.hysteresis = Ema(ema), Hysteresis(k, margin)

    def reset(self) -> None:
        self.ema.reset()
        self.hysteresis.reset()

    def __call__(self, probs: np.ndarray) -> Smoothed:
        before = self.hysteresis.shown
        smoothed = self.ema(probs)
        label = self.hysteresis(smoothed)
        return Smoothed(smoothed, label, before is not None and label != before)
