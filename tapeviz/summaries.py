"""Values in one home: what of a tensor's value is kept, and how a big one is summarised.

NumPy only (no TensorFlow): the data model and the recorder both use it.

>>> summarize(np.arange(100.0))
Summary(min=0.0, mean=49.5, max=99.0, first=(0.0, 1.0, 2.0, 3.0), sampled=False)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SMALL = 64               # tensors with at most this many elements keep their full value
EXACT = 4096             # up to this many elements, summaries are exact; beyond, sampled
SUMMARIZED = 10_000_000  # bigger tensors than this keep only shape and dtype
INLINE = 8               # values with more elements are shown as a summary


@dataclass(frozen=True)
class Summary:
    """Stands in for the value of a tensor too big to keep: a few numbers, not a copy."""

    min: float
    mean: float
    max: float
    first: tuple[float, ...]
    sampled: bool = False  # statistics of an even sample of the elements, not of all

    def __str__(self) -> str:
        about = "~" if self.sampled else ""
        low, mean, high = (x + 0.0 for x in (self.min, self.mean, self.max))  # no "-0"
        return f"{about}min {low:.3g} {about}mean {mean:.3g} {about}max {high:.3g}"


def summarize(array: np.ndarray | None) -> np.ndarray | Summary | None:
    """A copy of a small array; min/mean/max and the first values of a big one."""
    if array is None:
        return None
    if array.size <= SMALL:
        return np.array(array)  # a copy, and a 0-d array rather than a NumPy scalar
    if array.size > SUMMARIZED or array.dtype.kind not in "fiub":
        return None
    flat = array.reshape(-1)
    sample = flat if flat.size <= EXACT else _even_sample(flat)
    # the ufuncs themselves, not the ndarray methods: one Python call less each, per tensor
    return Summary(min=float(_MIN(sample, axis=None)),
                   mean=float(_SUM(sample, axis=None)) / sample.size,
                   max=float(_MAX(sample, axis=None)), first=tuple(flat[:4].tolist()),
                   sampled=sample is not flat)


_MIN, _SUM, _MAX = np.minimum.reduce, np.add.reduce, np.maximum.reduce


def _even_sample(flat: np.ndarray, runs: int = 64) -> np.ndarray:
    """EXACT elements in ``runs`` short contiguous runs spread evenly over a big array.

    Reading every element of big tensors after every op would cost more than the ops
    themselves; contiguous runs keep the sample cheap to read (whole cache lines).
    """
    rows = flat[: flat.size // runs * runs].reshape(runs, -1)
    return rows[:, : EXACT // runs]
