"""Out-of-line weights: numpy arrays referenced from the IR by name.

The IR only ever holds `nn.weight "name" : tensor<...>`; the bytes live here.
Printing and parsing a module therefore cost nothing per weight byte, and a
124M-parameter model prints in milliseconds (see xdsl-guide, section 4).

A store may be backed by an `.npz` file that is read lazily, key by key, so
loading a dump does not touch weights that a command never uses.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

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

    # -- files ------------------------------------------------------------------------
    def save(self, path: str, names: Iterable[str]) -> None:
        """Writes the named arrays to one uncompressed `.npz`."""
        # zip members of any name survive, but "x.npy"-style suffixes are added
        # and stripped by numpy; a name with a NUL cannot be a member name.
        np.savez(path, **{n: self[n] for n in names})

    def attach_npz(self, path: str) -> None:
        try:
            npz = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise NsccError(f"{path}: weight file not found", "the .npz written beside the .mlir dump must stay next to it") from None
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise NsccError(f"{path}: not a readable weight file ({e})", "re-create the dump with `nscc opt ... -o FILE.mlir`") from None
        for key in npz.files:
            self._lazy[key] = (npz, key)


def weight_file_for(mlir_path: str) -> str:
    base = mlir_path[:-5] if mlir_path.endswith(".mlir") else mlir_path
    return base + ".weights.npz"


def relpath_from(mlir_path: str, weight_path: str) -> str:
    return os.path.relpath(weight_path, os.path.dirname(os.path.abspath(mlir_path)) or ".")
