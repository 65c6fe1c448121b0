"""Information measures of spike activity, vectorized over neurons.

Conventions: logarithms base 2 (bits); empirical (plug-in) probabilities.
Plug-in estimates are biased for small samples (entropy down, mutual
information up); `nmi_chance` gives the value that shuffled labels reach on
the same data, the baseline an NMI should be read against.
"""

from __future__ import annotations

import numpy as np

SLOTS_CAP = 1 << 20


def firing_rate(counts: np.ndarray) -> np.ndarray:
    """Mean spikes per step of each neuron: counts [samples, neurons] -> [neurons] (|n| for signed counts)."""
    return np.abs(counts).mean(axis=0)


def _entropy_of_histogram(h: np.ndarray) -> np.ndarray:
    """Entropy (bits) of histograms along the last axis."""
    total = h.sum(axis=-1, keepdims=True)
    p = np.divide(h, total, out=np.zeros(h.shape, np.float64), where=total > 0)
    logp = np.log2(p, out=np.zeros_like(p), where=p > 0)
    return -(p * logp).sum(axis=-1)


def count_histogram(counts: np.ndarray, levels: int) -> np.ndarray:
    """Per neuron, how often each count in [-D, D] occurs: [samples, neurons] -> [neurons, 2D + 1]."""
    n = counts.shape[1]
    idx = (counts.astype(np.int64) + levels) + (2 * levels + 1) * np.arange(n)[None, :]
    return np.bincount(idx.ravel(), minlength=n * (2 * levels + 1)).reshape(n, 2 * levels + 1)


def count_entropy(hist: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of each neuron's count distribution; at most log2(D + 1) (unsigned)."""
    return _entropy_of_histogram(hist.astype(np.float64))


def block_entropies(trains: np.ndarray, max_block: int) -> np.ndarray:
    """H(L) for L = 1..max_block (bits) of the L-blocks of binary trains [trains, steps],
    pooled over trains (blocks never straddle two trains)."""
    trains = (np.asarray(trains) != 0).astype(np.uint16)
    t = trains.shape[1]
    out = []
    for L in range(1, min(max_block, 16) + 1):
        if L > t:
            break
        code = np.zeros((trains.shape[0], t - L + 1), np.uint16)
        for i in range(L):  # L shifted views, no Python loop per element
            code = (code << 1) | trains[:, i : t - L + 1 + i]
        out.append(_entropy_of_histogram(np.bincount(code.ravel(), minlength=1 << L).astype(np.float64)))
    return np.array(out)


def entropy_rate(trains: np.ndarray, max_block: int = 8) -> float:
    """Entropy rate (bits per step) of binary trains, h = H(L) - H(L - 1) at the longest block
    the data support (the Kolmogorov-Sinai estimate for a stationary binary source)."""
    trains = np.asarray(trains)
    if trains.size > SLOTS_CAP:  # an even subset of the trains: the estimate needs ~1M slots, not all
        trains = trains[:: -(-trains.size // SLOTS_CAP)]
    # longest L with enough blocks for a fair estimate of 2^L probabilities
    n_blocks = trains.shape[0] * max(trains.shape[1] - max_block + 1, 1)
    L = max(1, min(max_block, int(np.log2(max(n_blocks, 2)) - 3)))
    h = block_entropies(trains, L)
    return float(h[-1] - (h[-2] if len(h) > 1 else 0.0))


def lempel_ziv(train: np.ndarray) -> float:
    """Normalized Lempel-Ziv (1976) complexity of one binary train: c(n) * log2(n) / n, with
    c(n) the number of phrases when each new phrase is the shortest one not seen before
    (starting anywhere earlier); tends to the entropy rate for an ergodic source."""
    s = (np.asarray(train) != 0).astype(np.uint8).tobytes()
    n = len(s)
    if n < 2:
        return 0.0
    i = c = 0
    while i < n:
        length = 1
        while i + length <= n and s[i : i + length] in s[: i + length - 1]:  # searched in C
            length += 1
        c += 1
        i += length
    return c * np.log2(n) / n


def mutual_information(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """I(X; Y_j) and H(Y_j) for one discrete label x [samples] and responses y [samples, neurons]
    (integers); also H(X). All in bits."""
    x = np.asarray(x).astype(np.int64)
    y = np.asarray(y).astype(np.int64)
    _, xi = np.unique(x, return_inverse=True)
    nx = int(xi.max()) + 1
    y0 = y - y.min()
    ny = int(y0.max()) + 1
    n = y.shape[1]
    joint = np.bincount(((xi[:, None] * ny + y0) + (nx * ny) * np.arange(n)[None, :]).ravel(), minlength=n * nx * ny).reshape(n, nx * ny)
    h_xy = _entropy_of_histogram(joint.astype(np.float64))
    h_y = _entropy_of_histogram(joint.reshape(n, nx, ny).sum(axis=1).astype(np.float64))
    h_x = float(_entropy_of_histogram(np.bincount(xi).astype(np.float64)))
    return h_x + h_y - h_xy, h_y, h_x


def nmi(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Normalized mutual information I(X;Y) / sqrt(H(X) H(Y)) per neuron (0 where either is constant)."""
    i, h_y, h_x = mutual_information(x, y)
    den = np.sqrt(h_x * h_y)
    return np.divide(i, den, out=np.zeros_like(i), where=den > 0)


def nmi_chance(labels: np.ndarray, y: np.ndarray, repeat: int = 1, shuffles: int = 5, seed: int = 0) -> float:
    """Mean NMI over neurons with the labels shuffled: what the estimator gives with no relation.
    Each label stands for `repeat` consecutive rows of y (a sample's time steps), so whole
    samples are shuffled, not steps."""
    rng = np.random.default_rng(seed)
    return float(np.mean([nmi(np.repeat(rng.permutation(labels), repeat), y).mean() for _ in range(shuffles)]))
