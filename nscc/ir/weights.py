"""Out-of-line weights: numpy arrays referenced from the IR by name.

The IR only ever holds `nn.weight "name" : tensor<...>`; the bytes live here.
Printing and parsing a module therefore cost nothing per weight byte, and a
124M-parameter model prints in milliseconds (see xdsl-guide, section 4).

A store may be backed by an `.npz` file that is read lazily, key by key, so
loading a dump does not touch weights that a command never uses.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from nscc.arrays import save_npz
from nscc.errors import NsccError


class WeightStore(Mapping[str, np.ndarray]):
    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}
        self._lazy: dict[str, tuple[np.lib.npyio.NpzFile, str]] = {}

    # -- Mapping ----------------------------------------------------------------
    def __getitem__(self, name: str) -> np.ndarray:
        arr = self._arrays.get(name)
        if arr is None:
            if name not in self._lazy:
                raise KeyError(name)
            npz, key = self._lazy.pop(name)
            arr = self._arrays[name] = npz[key]
            arr.flags.writeable = False
        return arr

    def __iter__(self) -> Iterator[str]:
        yield from self._arrays
        yield from self._lazy

    def __len__(self) -> int:
        return len(self._arrays) + len(self._lazy)

    def __contains__(self, name: object) -> bool:
        return name in self._arrays or name in self._lazy

    def copy(self) -> WeightStore:
        """A store with the same (frozen, shared) arrays; what is added to it stays in it."""
        other = WeightStore()
        other._arrays = dict(self._arrays)
        other._lazy = dict(self._lazy)
        return other

    # -- building -----------------------------------------------------------------
    def add(self, name: str, array: np.ndarray) -> str:
        """Stores `array` under `name`, or under `name_1`, `name_2`... if taken.

        Arrays are frozen: passes that change a weight add a new one, so that a
        cloned module keeps seeing the weights it was cloned with.
        """
        key, i = name, 0
        while key in self:
            i += 1
            key = f"{name}_{i}"
        arr = np.asarray(array)
        if arr.flags.writeable:
            arr = arr.view()
            arr.flags.writeable = False
        self._arrays[key] = arr
        return key

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays in memory (not those still in a file)."""
        return sum(a.nbytes for a in self._arrays.values())

    def nbytes_of(self, name: str) -> int:
        a = self._arrays.get(name)
        return 0 if a is None else a.nbytes

    def discard(self, name: str) -> None:
        """Forgets one array no op reads any more (the caller knows)."""
        self._arrays.pop(name, None)
        self._lazy.pop(name, None)

    def retain(self, names: Iterable[str]) -> int:
        """Forgets every array not named (those no op reads any more: the weights a pass
        replaced); the bytes freed. Between passes this keeps a conversion near the size of
        the model, instead of every rotated or quantized copy of every weight at once."""
        keep = set(names)
        freed = 0
        for name in [n for n in self._arrays if n not in keep]:
            freed += self._arrays.pop(name).nbytes
        for name in [n for n in self._lazy if n not in keep]:
            del self._lazy[name]
        return freed

    # -- files ------------------------------------------------------------------------
    def save(self, path: str, names: Iterable[str], bits: dict[str, int] | None = None) -> None:
        """Writes the named arrays to one uncompressed `.npz`.

        Integer weights narrower than 8 bits (`bits[name]`, from their IR type)
        are stored packed, little-endian within each byte, and unpacked on load."""
        bits = bits or {}
        arrays, packed = {}, {}
        for n in names:
            a = self[n]
            b = bits.get(n, 0)
            if 1 < b < 8 and a.dtype.kind == "i":
                arrays[n], fmt = encode_packed(a, b)
                packed[n] = {"bits": b, "shape": list(a.shape), "format": fmt}
            else:
                arrays[n] = a
        if packed:
            arrays[PACKED_KEY] = np.frombuffer(json.dumps(packed).encode(), np.uint8)
        save_npz(path, arrays)

    def attach_npz(self, path: str) -> None:
        try:
            npz = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise NsccError(f"{path}: weight file not found", "the .npz written beside the .mlir dump must stay next to it") from None
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise NsccError(f"{path}: not a readable weight file ({e})", "re-create the dump with `nscc opt ... -o FILE.mlir`") from None
        meta = json.loads(bytes(npz[PACKED_KEY]).decode()) if PACKED_KEY in npz.files else {}
        for key in npz.files:
            if key == PACKED_KEY:
                continue
            if key in meta:  # unpacked now: the interpreter computes on whole integers
                m = meta[key]
                self._arrays[key] = decode_packed(npz[key], m["bits"], tuple(m["shape"]), m.get("format", "dense"))
                self._arrays[key].flags.writeable = False
            else:
                self._lazy[key] = (npz, key)


PACKED_KEY = "__nscc_packed__"


def packed_formats(a: np.ndarray, bits: int) -> dict[str, int]:
    """Bytes of each storage format that can hold `a` (signed `bits`-bit integers).

    dense: bits per weight; ternary: five weights in {-1, 0, 1} per byte
    (3^5 = 243 <= 256), 1.6 bits; bitmask: one bit per weight for "non-zero"
    plus the non-zero weights packed, the sparse form pruned layers take."""
    n = a.size
    nnz = int(np.count_nonzero(a))
    sizes = {"dense": (n * bits + 7) // 8, "bitmask": (n + 7) // 8 + (nnz * bits + 7) // 8}
    if bits == 2 and n and a.min() >= -1 and a.max() <= 1:
        sizes["ternary"] = (n + 4) // 5
    return sizes


def packed_size(a: np.ndarray, bits: int) -> int:
    return min(packed_formats(a, bits).values())


def encode_packed(a: np.ndarray, bits: int) -> tuple[np.ndarray, str]:
    """`a` in its smallest storage format: (bytes, format name)."""
    sizes = packed_formats(a, bits)
    fmt = min(sizes, key=lambda k: (sizes[k], k != "dense"))
    flat = a.reshape(-1)
    if fmt == "ternary":
        t = np.concatenate([flat.astype(np.int64) + 1, np.zeros((-flat.size) % 5, np.int64)]).reshape(-1, 5)
        return (t @ (3 ** np.arange(5))).astype(np.uint8), fmt
    if fmt == "bitmask":
        nz = flat != 0
        return np.concatenate([np.packbits(nz, bitorder="little"), pack(flat[nz], bits)]), fmt
    return pack(a, bits), fmt


def decode_packed(p: np.ndarray, bits: int, shape: tuple[int, ...], fmt: str) -> np.ndarray:
    n = int(np.prod(shape))
    if fmt == "ternary":
        digits = (p.astype(np.int64)[:, None] // (3 ** np.arange(5))) % 3
        return (digits.reshape(-1)[:n] - 1).astype(np.int8).reshape(shape)
    if fmt == "bitmask":
        mask_bytes = (n + 7) // 8
        nz = np.unpackbits(p[:mask_bytes], count=n, bitorder="little").astype(bool)
        out = np.zeros(n, np.int8)
        out[nz] = unpack(p[mask_bytes:], bits, (int(nz.sum()),))
        return out.reshape(shape)
    return unpack(p, bits, shape)


def pack(a: np.ndarray, bits: int) -> np.ndarray:
    """Signed integers of `bits` bits, two's complement, packed densely into bytes."""
    u = (a.reshape(-1).astype(np.int64) & ((1 << bits) - 1)).astype(np.uint64)
    pos = np.arange(u.size, dtype=np.uint64) * np.uint64(bits)
    out = np.zeros((u.size * bits + 7) // 8 + 1, np.uint64)
    np.bitwise_or.at(out, (pos >> np.uint64(3)).astype(np.int64), u << (pos & np.uint64(7)))
    hi = (pos >> np.uint64(3)).astype(np.int64) + 1  # a value may spill into the next byte
    np.bitwise_or.at(out, hi, u >> (np.uint64(8) - (pos & np.uint64(7))))
    return (out & np.uint64(0xFF)).astype(np.uint8)[: (u.size * bits + 7) // 8]


def unpack(p: np.ndarray, bits: int, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    padded = np.concatenate([p.astype(np.uint16), np.zeros(2, np.uint16)])
    pos = np.arange(n, dtype=np.int64) * bits
    word = padded[pos >> 3] | (padded[(pos >> 3) + 1] << 8)
    u = (word >> (pos & 7).astype(np.uint16)).astype(np.int64) & ((1 << bits) - 1)
    signed = np.where(u >= 1 << (bits - 1), u - (1 << bits), u)
    return signed.astype(np.int8).reshape(shape)


def weight_file_for(mlir_path: str) -> str:
    base = mlir_path[:-5] if mlir_path.endswith(".mlir") else mlir_path
    return base + ".weights.npz"


def relpath_from(mlir_path: str, weight_path: str) -> str:
    return os.path.relpath(weight_path, os.path.dirname(os.path.abspath(mlir_path)) or ".")
