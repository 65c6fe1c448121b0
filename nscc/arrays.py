"""Arrays from users' files: .npy and .npz read safely, checked to be numbers.

Every command that takes data (--input, --calib, --labels) reads it here, so a
0-byte file, an archive that is not one, an object array (which would need
pickle) or a non-finite value is one clear error naming the file, never a
traceback."""

from __future__ import annotations

import functools
import gc
import zipfile

import numpy as np

from nscc.errors import NsccError, printable


def load(path: str, hint: str) -> np.ndarray | dict[str, np.ndarray]:
    """The array of an .npy, or the arrays of an .npz by name."""
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                return {k: _numeric(data[k], f"{path}: array {k!r}", hint) for k in data.files}
        return _numeric(data, path, hint)
    except FileNotFoundError:
        raise NsccError(f"{path}: file not found", hint) from None
    except IsADirectoryError:
        raise NsccError(f"{path}: is a directory, not an .npy/.npz file", hint) from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        why = (
            "empty file"
            if isinstance(e, EOFError)
            else "object arrays need pickle, which nscc never loads"
            if "allow_pickle" in str(e)
            else str(e)
        )
        raise NsccError(f"{path}: not a readable .npy/.npz file ({why})", hint) from None


def _numeric(a: np.ndarray, what: str, hint: str) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise NsccError(f"{what} has dtype {a.dtype}; nscc reads numbers only", hint)
    return a


def check_finite(a: np.ndarray, what: str, hint: str) -> None:
    """Floats must be finite and within float32's range (3e38 squared overflows a variance)."""
    if a.dtype.kind != "f" or not a.size:
        return
    bad = ~np.isfinite(a)
    if bad.any():
        i = np.unravel_index(int(np.argmax(bad)), a.shape)
        raise NsccError(f"{what} holds {a[i]} at index {list(map(int, i))} ({int(bad.sum())} non-finite values)", hint)
    big = float(np.abs(a).max())
    if big > 1e30:
        raise NsccError(f"{what} holds a value of magnitude {big:.3g}, beyond what nscc calibrates (1e30)", hint)


def save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed .npz that numpy.load reads back by the same names.

    numpy.savez takes names as keyword arguments, so an array called `file` or
    `allow_pickle` collides with its parameters; here every name is a plain zip
    member. Names that a zip member cannot carry (NUL, over 60,000 bytes) are refused."""
    for name in arrays:
        if "\0" in name or len(name.encode()) > 60_000:
            raise NsccError(f"{path}: the name {printable(name, 80)!r} cannot be a key of an .npz file", "rename it in the model")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for name, a in arrays.items():
            with z.open(name + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(a), allow_pickle=False)


# Columns handled at a time where a whole matrix of temporaries would not do: an LM
# head's float64 copy is 226 MB (SmolLM2), and several at once were a conversion's peak.
COLUMN_BLOCK = 4096


def column_blocks(n: int, block: int = COLUMN_BLOCK) -> list[slice]:
    """Slices covering n columns, `block` at a time."""
    return [slice(j, j + block) for j in range(0, n, block)]


# Below this many bytes at stake a release is not worth a full garbage collection, which
# takes a tenth of a second in a process with many objects (a test run makes hundreds).
RELEASE_BYTES = 64 << 20


def release_memory(at_stake: int = RELEASE_BYTES) -> None:
    """Hands freed heap memory back to the operating system (glibc's `malloc_trim`).

    A conversion frees hundreds of megabytes of calibration samples in pieces of a
    few megabytes; glibc keeps such pieces in its heap, so without this the peak of
    the measurement that follows stacks on top of them. The samples' statistics are
    keyed by IR values, which sit in reference cycles with their ops, so a garbage
    collection comes first (on SmolLM2 it frees 300 MB that refcounting keeps). The
    trim does nothing off glibc. `at_stake`: the bytes the caller freed or holds; below
    RELEASE_BYTES nothing is done."""
    if at_stake < RELEASE_BYTES:
        return
    gc.collect()
    trim_heap()


def trim_heap() -> None:
    """glibc's `malloc_trim` alone, without the garbage collection: for a loop that frees
    arrays of a few megabytes (a layer's float weight) as it goes. Off glibc, nothing."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _libc():
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None
