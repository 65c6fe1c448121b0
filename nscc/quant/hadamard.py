"""Orthogonal matrices that spread outliers: Hadamard matrices of any order that has one we can build.

A row with all its energy in one channel (a "massive activation") comes out
of a normalised Hadamard matrix H / sqrt(n) perfectly flat: every entry is
+-1/sqrt(n) of its norm. That is why QuaRot rotates the residual stream by one
before quantizing. Orders that are not powers of two (576 = 36 x 16,
1536 = 12 x 128) are Kronecker products of Sylvester's 2^k with a Paley
matrix: Paley I gives order p + 1 for a prime p = 3 (mod 4), Paley II order
2(p + 1) for a prime p = 1 (mod 4). Where no such product exists, a random
orthogonal matrix (QR of a Gaussian one) stands in: flat on average rather
than for every row.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.linalg import hadamard as sylvester


def _is_prime(p: int) -> bool:
    return p >= 2 and all(p % d for d in range(2, int(p**0.5) + 1))


def _jacobsthal(p: int) -> np.ndarray:
    """Q[i, j] = chi(j - i), chi the quadratic character mod p."""
    squares = np.zeros(p, bool)
    squares[(np.arange(1, p) ** 2) % p] = True
    chi = np.where(squares, 1, -1)
    chi[0] = 0
    idx = (np.arange(p)[None, :] - np.arange(p)[:, None]) % p
    return chi[idx]


def _paley(n: int) -> np.ndarray | None:
    """A Hadamard matrix of order n by Paley's first or second construction, if one applies."""
    p = n - 1
    if _is_prime(p) and p % 4 == 3:
        q = _jacobsthal(p)
        s = np.zeros((n, n), np.int64)
        s[0, 1:] = 1
        s[1:, 0] = -1
        s[1:, 1:] = q
        return s + np.eye(n, dtype=np.int64)
    if n % 2 == 0:
        p = n // 2 - 1
        if _is_prime(p) and p % 4 == 1:
            q = _jacobsthal(p)
            c = np.zeros((p + 1, p + 1), np.int64)
            c[0, 1:] = 1
            c[1:, 0] = 1
            c[1:, 1:] = q
            a = np.array([[1, -1], [-1, -1]])
            b = np.array([[1, 1], [1, -1]])
            return np.kron(c, a) + np.kron(np.eye(p + 1, dtype=np.int64), b)
    return None


@lru_cache(maxsize=32)
def _factors(n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(P, S) with P (x) S a Hadamard matrix of order n: P a Paley block (or [[1]]), S Sylvester's."""
    if n < 1:
        return None
    if n & (n - 1) == 0:
        return np.ones((1, 1), np.int64), sylvester(n).astype(np.int64)
    power = n & -n  # the largest power of two dividing n
    m = n // power
    while power >= 1:  # the smallest Paley block times the rest of the power of two
        block = _paley(m)
        if block is not None:
            return block, sylvester(power).astype(np.int64)
        m, power = m * 2, power // 2
    return None


def hadamard_matrix(n: int) -> np.ndarray | None:
    """An n x n matrix of +-1 with H H^T = n I, or None when none is built here."""
    f = _factors(n)
    return None if f is None else np.kron(*f)


def kronecker_factors(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """(A, B), int8 matrices of +-1 with A (x) B a Hadamard matrix of order n whose rows carry
    random signs s_a (x) s_b (QuaRot's randomised Hadamard, kept a Kronecker product so that
    applying it costs n (p + q) additions instead of n^2); None when no order-n one is built here."""
    f = _factors(n)
    if f is None:
        return None
    rng = np.random.default_rng(seed)
    return tuple((m * rng.choice(np.array([-1, 1]), m.shape[0])[:, None]).astype(np.int8) for m in f)

def is_signed_sylvester(b: np.ndarray) -> bool:
    """Whether b = diag(s) H with H Sylvester's Hadamard matrix (the form of kronecker_factors'
    power-of-two factor): then x b is a fast Walsh-Hadamard transform of x * s."""
    q = b.shape[0]
    if b.ndim != 2 or b.shape[1] != q or q < 2 or q & (q - 1):
        return False
    s = b[:, :1].astype(np.int64)
    return bool(np.all(np.abs(s) == 1) and np.array_equal(b.astype(np.int64), s * sylvester(q)))


def random_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random orthogonal matrix (QR of a Gaussian one, signs fixed)."""
    a = rng.standard_normal((n, n))
    q, r = np.linalg.qr(a)
    return q * np.sign(np.diag(r))[None, :]


def rotation(n: int, seed: int = 0, kind: str = "hadamard") -> np.ndarray:
    """An orthogonal n x n matrix (float64): a Hadamard matrix with random column signs
    (QuaRot's randomised Hadamard) when one of order n is built here and `kind` asks for
    it, else a random orthogonal one."""
    rng = np.random.default_rng(seed)
    h = hadamard_matrix(n) if kind == "hadamard" else None
    if h is None:
        return random_orthogonal(n, rng)
    signs = rng.choice(np.array([-1.0, 1.0]), n)
    return (h * signs[None, :]) / np.sqrt(n)
