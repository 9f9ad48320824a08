"""Keep TensorFlow's C++ log lines out of the kit's output.

TFLite's MLIR converter and the calibrator write straight to file descriptor 2 from C++ (`W0000 ...
tf_tfl_flatbuffer_helpers.cc`, `fully_quantize: 0 ...`), and so does TensorFlow's import (`Unable to
register cuDNN factory`, ...), below Python's reach and regardless of TF_CPP_MIN_LOG_LEVEL.
`native_stderr_to(log)` points fd 2 at a log file next to the artifacts while such a call runs, then puts
it back: the lines are kept, just not printed. Python exceptions still propagate as usual.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def native_stderr_to(log: Path) -> Iterator[Path]:
    """Append everything written to fd 2 (C++ and Python alike) to `log` while the block runs."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(log, "ab") as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield log
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)
