"""Values as the SQLite `run_variables.value` column holds them, in DAMNIT's encodings.

A summary is stored as a number or a string as it is; a complex number as a 16-byte blob
(two little-endian float64, summary_type "complex"); an array as a .npy blob (summary_type
"numpy", or "trendline" for a 2 x N trend); a PNG thumbnail as its bytes (no summary_type).
`encode_value` and `decode_value` go between Python values and these; `parse_user_value`
turns what a user typed for a typed (user-editable) variable into its value.
"""

from __future__ import annotations

import io
import struct

import numpy as np

__all__ = ["encode_value", "decode_value", "parse_user_value", "NUMPY_MAGIC"]

NUMPY_MAGIC = b"\x93NUMPY"
_COMPLEX = struct.Struct("<dd")


def encode_value(value, summary_type=None):
    """(value, summary_type) as SQLite stores them: numpy scalars as Python numbers,
    complex numbers and arrays as blobs (with their summary_type), others unchanged."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, complex):
        return _COMPLEX.pack(value.real, value.imag), "complex"
    if isinstance(value, np.ndarray):
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return buffer.getvalue(), summary_type or "numpy"
    return value, summary_type


def decode_value(value, summary_type):
    """A stored value back as Python: complex, numpy array, PNG bytes, number or str."""
    if isinstance(value, bytes):
        if summary_type == "complex":
            return complex(*_COMPLEX.unpack(value))
        if summary_type in ("numpy", "trendline") or value.startswith(NUMPY_MAGIC):
            return np.load(io.BytesIO(value), allow_pickle=False)
    return value


_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def parse_user_value(name, vtype, value):
    """A user-typed value converted to its variable's type ("boolean", "integer", "number"
    or "string"); ValueError says what is allowed."""
    try:
        if vtype == "boolean":
            if isinstance(value, str):
                text = value.strip().lower()
                if text in _TRUE | _FALSE:
                    return text in _TRUE
                raise ValueError
            if isinstance(value, (bool, np.bool_, int, np.integer)) and value in (0, 1):
                return bool(value)
            raise ValueError
        if vtype == "integer":
            if isinstance(value, (bool, np.bool_)):
                raise ValueError
            if isinstance(value, (float, np.floating)) and not float(value).is_integer():
                raise ValueError
            return int(value)
        if vtype == "number":
            if isinstance(value, (bool, np.bool_)):
                raise ValueError
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        allowed = {"boolean": "true/false/yes/no/1/0", "integer": "a whole number",
                   "number": "a number"}[vtype]
        raise ValueError(f"{value!r} is not valid for {name!r} ({vtype}): enter {allowed}, "
                         "or an empty value to clear it.") from None
