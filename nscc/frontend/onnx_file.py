"""Reads an ONNX file without holding its weights twice.

`onnx.load` parses every weight into the protobuf and `numpy_helper` copies
it again: three copies at the peak for a single-file model. Here the file is
walked at the protobuf wire level instead: each large initializer's bytes are
memory-mapped where they lie (in the .onnx file or its external data), or read
once into a numpy array where they are not aligned for their type, and the
protobuf that is parsed is a skeleton holding the graph and the small tensors only.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

import numpy as np
import onnx
from onnx import helper

# ModelProto.graph, GraphProto.initializer, TensorProto.raw_data / data_location / external_data
_MODEL_GRAPH, _GRAPH_INITIALIZER, _TENSOR_RAW, _TENSOR_LOCATION, _TENSOR_EXTERNAL = 7, 5, 9, 14, 13
# Raw data shorter than this stays in the skeleton: shape subgraphs need the values.
SMALL = 4096


class WireError(ValueError):
    pass


def _varint(f: BinaryIO) -> int | None:
    shift = result = 0
    while True:
        b = f.read(1)
        if not b:
            if shift == 0:
                return None
            raise WireError("truncated varint")
        result |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def _encode_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(f: BinaryIO, end: int):
    """(field number, wire type, key bytes start) for each field up to `end`; leaves f at the value."""
    while f.tell() < end:
        start = f.tell()
        key = _varint(f)
        if key is None:
            raise WireError("truncated message")
        yield key >> 3, key & 7, start


def _skip(f: BinaryIO, wire: int) -> None:
    if wire == 0:
        _varint(f)
    elif wire == 1:
        f.seek(8, os.SEEK_CUR)
    elif wire == 2:
        n = _varint(f)
        f.seek(n, os.SEEK_CUR)
    elif wire == 5:
        f.seek(4, os.SEEK_CUR)
    else:
        raise WireError(f"unsupported wire type {wire}")


def _copy_field(f: BinaryIO, wire: int, start: int) -> bytes:
    _skip(f, wire)
    end = f.tell()
    f.seek(start)
    data = f.read(end - start)
    if len(data) != end - start:
        raise WireError("truncated field")
    return data


def _tensor(f: BinaryIO, end: int, raws: list) -> bytes:
    """A TensorProto without its large raw_data; records (offset, length) of that data."""
    out = bytearray()
    raw = None
    for field, wire, start in _fields(f, end):
        if field == _TENSOR_RAW and wire == 2:
            n = _varint(f)
            if n > SMALL:
                raw = (f.tell(), n)
                f.seek(n, os.SEEK_CUR)
                continue
            f.seek(n, os.SEEK_CUR)
            stop = f.tell()
            f.seek(start)
            out += f.read(stop - start)
            continue
        out += _copy_field(f, wire, start)
    if f.tell() != end:
        raise WireError("tensor overruns its length")
    raws.append(raw)
    return bytes(out)


def _graph(f: BinaryIO, end: int, raws: list) -> bytes:
    out = bytearray()
    for field, wire, start in _fields(f, end):
        if field == _GRAPH_INITIALIZER and wire == 2:
            n = _varint(f)
            body = _tensor(f, f.tell() + n, raws)
            out += _encode_varint((_GRAPH_INITIALIZER << 3) | 2) + _encode_varint(len(body)) + body
        else:
            out += _copy_field(f, wire, start)
    return bytes(out)


def read_onnx(path: str, with_weights: bool = True) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """The model skeleton and its initializers as numpy arrays (each read once)."""
    size = os.path.getsize(path)
    raws: list = []
    with open(path, "rb", buffering=1 << 16) as f:
        out = bytearray()
        for field, wire, start in _fields(f, size):
            if field == _MODEL_GRAPH and wire == 2:
                n = _varint(f)
                if f.tell() + n > size:
                    raise WireError("truncated graph")
                body = _graph(f, f.tell() + n, raws)
                out += _encode_varint((_MODEL_GRAPH << 3) | 2) + _encode_varint(len(body)) + body
            else:
                out += _copy_field(f, wire, start)
        model = onnx.ModelProto()
        model.ParseFromString(bytes(out))
        arrays: dict[str, np.ndarray] = {}
        if not with_weights:
            return model, arrays
        directory = os.path.dirname(os.path.abspath(path))
        for t, raw in zip(model.graph.initializer, raws):
            arrays[t.name] = _array(f, t, raw, directory)
    return model, arrays


class ExternalDataError(ValueError):
    """An external-data reference that nscc refuses to follow."""


def _external_file(directory: str, t: onnx.TensorProto, info: dict[str, str]) -> tuple[str, int, int]:
    """(path, offset, length) of a tensor's external data, checked: a regular file inside
    the model's folder (symlinks resolved), the byte range inside the file, and as long
    as the tensor's shape says."""
    name = repr(t.name)
    location = info.get("location", "")
    if not location:
        raise ExternalDataError(f"tensor {name} has external data with an empty location")
    root = os.path.realpath(directory)
    path = os.path.realpath(os.path.join(root, location))
    if os.path.isabs(location) or os.path.commonpath([path, root]) != root or path == root:
        raise ExternalDataError(f"tensor {name} points outside the model's folder ({location!r})")
    try:
        st = os.stat(path)
    except OSError:
        raise ExternalDataError(f"tensor {name}: external data {location!r} is missing") from None
    if not stat.S_ISREG(st.st_mode):
        raise ExternalDataError(f"tensor {name}: external data {location!r} is not a regular file")
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else st.st_size - offset
    except ValueError:
        raise ExternalDataError(f"tensor {name}: offset or length is not an integer") from None
    itemsize = 1 if t.data_type == onnx.TensorProto.BOOL else np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
    if any(d < 0 for d in t.dims):
        raise ExternalDataError(f"tensor {name} has a negative dimension {list(t.dims)}")
    want = int(np.prod(t.dims, dtype=object)) * itemsize
    if offset < 0 or length < 0 or offset + length > st.st_size:
        raise ExternalDataError(f"tensor {name}: bytes {offset}..{offset + length} lie outside {location!r} ({st.st_size} bytes)")
    if length != want:
        raise ExternalDataError(f"tensor {name}: {length} bytes of external data for a {list(t.dims)} tensor ({want} bytes)")
    return path, offset, length


def _array(f: BinaryIO, t: onnx.TensorProto, raw, directory: str) -> np.ndarray:
    dims = tuple(t.dims)
    if raw is not None:
        mapped = _mapped(f.name, raw[0], raw[1], t, dims)
        return mapped if mapped is not None else _read_into(f, raw[0], raw[1], t, dims)
    if t.data_location == onnx.TensorProto.EXTERNAL:
        path, offset, length = _external_file(directory, t, {e.key: e.value for e in t.external_data})
        mapped = _mapped(path, offset, length, t, dims)
        if mapped is not None:
            return mapped
        with open(path, "rb") as g:
            return _read_into(g, offset, length, t, dims)
    return onnx.numpy_helper.to_array(t)


def _dtype(t: onnx.TensorProto) -> np.dtype:
    return np.dtype(np.bool_) if t.data_type == onnx.TensorProto.BOOL else np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))


def _mapped(path: str, offset: int, length: int, t: onnx.TensorProto, dims) -> np.ndarray | None:
    """The tensor's bytes memory-mapped from the file, read-only, when they lie aligned
    for their type: the weights of a model larger than memory stay in the page cache,
    which the kernel fills as a pass reads a layer and may drop again, and a weight a
    pass has replaced leaves memory with its last reader. None where they do not."""
    dtype = _dtype(t)
    if length < SMALL or offset % dtype.itemsize or length != dtype.itemsize * int(np.prod(dims, dtype=np.int64)):
        return None
    try:
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=dims)
    except (OSError, ValueError):
        return None


def _read_into(f: BinaryIO, offset: int, length: int, t: onnx.TensorProto, dims) -> np.ndarray:
    dtype = _dtype(t)
    buf = np.empty(length, np.uint8)
    f.seek(offset)
    if f.readinto(memoryview(buf)) != length:
        raise WireError(f"tensor '{t.name}' is truncated")
    # ONNX raw data is little-endian, as are the hosts nscc runs on (x86-64, AArch64)
    return buf.view(dtype).reshape(dims)
