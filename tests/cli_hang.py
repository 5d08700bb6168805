"""Run the ``s2vec`` command line, stopping where a test wants to interrupt it.

``python tests/cli_hang.py <s2vec arguments>`` runs ``python -m s2vec_geo``
with one change: when a finished temporary is about to be renamed onto a
target whose path ends with ``$S2VEC_HANG_ON``, it creates the file
``$S2VEC_HANG_FLAG`` and sleeps (``$S2VEC_HANG_SECONDS``, default 600, then
carries on), so that the test can kill it (SIGKILL) or interrupt it (SIGINT)
at the moment a temporary exists, or act while it holds its locks. Ctrl-C
behaves as from a terminal even when the test runner ignores SIGINT.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import time

_replace = os.replace


def _hanging_replace(src: str | os.PathLike, dst: str | os.PathLike, **kwargs: object) -> None:
    if os.fspath(dst).endswith(os.environ["S2VEC_HANG_ON"]):
        with open(os.environ["S2VEC_HANG_FLAG"], "w"):
            pass
        time.sleep(float(os.environ.get("S2VEC_HANG_SECONDS", "600")))
    _replace(src, dst, **kwargs)


if __name__ == "__main__":
    os.replace = _hanging_replace
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv = ["s2vec", *sys.argv[1:]]
    runpy.run_module("s2vec_geo", run_name="__main__", alter_sys=True)
