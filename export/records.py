"""The bytes of the kit's records, without TensorFlow: a CTR `tf.train.Example` and the TFRecord file frame.

`tfkit data import`, `tfkit data generate` and the Spark executors of `tfkit data spark` write millions of
records; importing TensorFlow into every Spark Python worker to build them cost ~10 s of a job's wall and
a protobuf message a row cost ~8 us. Both formats are fixed and small, so they are written here directly:

- `example_bytes` writes the protobuf wire format of the CTR Example (example.proto: Example.features ->
  Features.feature map<string, Feature> -> bytes_list / int64_list) with the map entries in key order,
  which is protobuf's own deterministic serialization; tests/unit/test_records.py proves the bytes equal
  `Example.SerializeToString(deterministic=True)` and parse back with TensorFlow.
- `TFRecordFile` frames each record as TensorFlow's record_writer.cc does (length, masked CRC-32C of the
  length, data, masked CRC-32C of the data; CRC-32C by google-crc32c), optionally in one gzip stream (what
  TFRecordWriter's "GZIP" option writes and `tf.data.TFRecordDataset(compression_type="GZIP")` reads).
"""

from __future__ import annotations

import functools
import gzip
import struct
from io import BufferedWriter
from pathlib import Path
from types import TracebackType

import numpy as np

_LEN = 0x0A  # field 1, wire type 2 (length-delimited): Example.features, Features.feature, map key, ...
_MAP_VALUE = 0x12  # field 2, wire type 2: the Feature of a map entry
_INT64_LIST = 0x1A  # Feature.int64_list (field 3)
_BYTES_LIST = 0x0A  # Feature.bytes_list (field 1)
_UINT64 = (1 << 64) - 1
COMPRESSIONS = ("none", "gzip")  # a shard file's compression (`tfkit data spark --compression`)


_BYTES = [bytes((i,)) for i in range(0x80)]


def _varint(value: int) -> bytes:
    """Protobuf base-128 varint of an int64 (negative values as their 64-bit two's complement)."""
    if 0 <= value < 0x80:
        return _BYTES[value]
    value &= _UINT64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _delimited(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + _varint(len(payload)) + payload


def _entry(key: bytes, kind: int, value: bytes) -> bytes:
    """One map<string, Feature> entry holding a one-value list of `kind` (value already encoded)."""
    feature = _delimited(kind, _delimited(_LEN, value))
    return _delimited(_LEN, _delimited(_LEN, key) + _delimited(_MAP_VALUE, feature))


@functools.lru_cache(maxsize=256)
def _prefix(key: bytes, kind: int, width: int) -> bytes:
    """The bytes of an entry before its value: they depend only on the key, the kind and the value's
    width, so each is built once (by `_entry`, on a placeholder value) and reused for every record."""
    return _entry(key, kind, bytes(width))[:-width]


def example_bytes(label: int | None, feature: bytes, user_id: int, article_id: int) -> bytes:
    """A serialized CTR Example: article_id, feature (raw bytes), label (left out when None), user_id."""
    article, user = _varint(article_id), _varint(user_id)
    parts = [_prefix(b"article_id", _INT64_LIST, len(article)), article]
    parts += [_prefix(b"feature", _BYTES_LIST, len(feature)), feature]
    if label is not None:
        clicked = _varint(label)
        parts += [_prefix(b"label", _INT64_LIST, len(clicked)), clicked]
    parts += [_prefix(b"user_id", _INT64_LIST, len(user)), user]
    size = sum(map(len, parts))
    return b"".join([_BYTES[_LEN], _varint(size), *parts])


def _varint_widths(values: np.ndarray) -> np.ndarray:
    """Bytes of the varint of each (non-negative int64) value: 1 + one per 7 bits above the first 7."""
    widths = np.ones(len(values), np.int64)
    for bits in range(7, 64, 7):
        widths += values >= (1 << bits)
    return widths


def _varint_bytes(values: np.ndarray, width: int) -> np.ndarray:
    """The varints of values that all take `width` bytes, one row each."""
    shifts = np.arange(width, dtype=np.int64) * 7
    out = ((values[:, None] >> shifts) & 0x7F).astype(np.uint8)
    out[:, :-1] |= 0x80  # every byte but the last says "more follows"
    return out


def examples_bytes(
    labels: np.ndarray, features: np.ndarray, user_ids: np.ndarray, article_ids: np.ndarray
) -> list[bytes]:
    """`example_bytes` of many labelled rows at once (features: an n x len float64 matrix), in numpy.

    Rows whose ids and label take the same varint widths have records of one length and layout; each such
    group is assembled as one uint8 matrix from the same `_prefix` bytes `example_bytes` joins."""
    labels, user_ids, article_ids = (np.asarray(a, np.int64) for a in (labels, user_ids, article_ids))
    matrix = np.ascontiguousarray(features, dtype="<f8")
    raw = matrix.view(np.uint8).reshape(len(labels), 8 * matrix.shape[1])
    records: list[bytes] = [b""] * len(labels)
    if (labels < 0).any() or (user_ids < 0).any() or (article_ids < 0).any():  # 10-byte varints: rare
        return [
            example_bytes(int(c), raw[i].tobytes(), int(u), int(a))
            for i, (c, u, a) in enumerate(zip(labels, user_ids, article_ids, strict=True))
        ]
    wa_all, wl_all, wu_all = (_varint_widths(v) for v in (article_ids, labels, user_ids))
    layouts = (wa_all * 11 + wl_all) * 11 + wu_all  # widths are 1..10: one code per layout
    for layout in np.unique(layouts).tolist():
        rows = np.flatnonzero(layouts == layout)
        wa, wl, wu = layout // 121, layout // 11 % 11, layout % 11
        columns: list[np.ndarray | bytes] = [
            _prefix(b"article_id", _INT64_LIST, wa),
            _varint_bytes(article_ids[rows], wa),
            _prefix(b"feature", _BYTES_LIST, raw.shape[1]),
            raw[rows],
            _prefix(b"label", _INT64_LIST, wl),
            _varint_bytes(labels[rows], wl),
            _prefix(b"user_id", _INT64_LIST, wu),
            _varint_bytes(user_ids[rows], wu),
        ]
        size = sum(len(c) if isinstance(c, bytes) else c.shape[1] for c in columns)
        columns = [_BYTES[_LEN] + _varint(size), *columns]
        block = np.hstack(
            [
                np.broadcast_to(np.frombuffer(c, np.uint8), (len(rows), len(c)))
                if isinstance(c, bytes)
                else c
                for c in columns
            ]
        )
        for row, record in zip(rows.tolist(), block, strict=True):
            records[row] = record.tobytes()
    return records


def _masked_crc(data: bytes) -> bytes:
    """TensorFlow's masked CRC-32C (crc32c.h Mask): rotate right by 15 bits, add 0xa282ead8."""
    import google_crc32c

    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def frame(record: bytes) -> bytes:
    """One record as a TFRecord file holds it."""
    length = struct.pack("<Q", len(record))
    return length + _masked_crc(length) + record + _masked_crc(record)


class TFRecordFile:
    """Write records into a TFRecord file (`compression`: "none" or "gzip"); a context manager."""

    def __init__(self, path: Path | str, compression: str = "none") -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be none or gzip, got {compression!r}")
        self._file: gzip.GzipFile | BufferedWriter = (
            gzip.GzipFile(path, "wb", compresslevel=6) if compression == "gzip" else open(path, "wb")  # noqa: SIM115
        )
        self.count = 0

    def write(self, record: bytes) -> None:
        self._file.write(frame(record))
        self.count += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TFRecordFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
