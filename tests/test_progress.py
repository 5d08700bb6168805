"""Progress goes where it can be read: plain lines in a log file, bars in a terminal."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = (
    "from s2vec_geo.core.progress import progress\n"
    "for _ in progress(range(200), desc='train'): pass\n"
)


def test_a_log_file_gets_one_line_per_tenth_and_no_carriage_return(tmp_path) -> None:
    log = tmp_path / "run.log"
    env = {"PATH": "", "PYTHONPATH": ""}  # no S2VEC_PROGRESS: chosen by the output
    with open(log, "w") as f:
        subprocess.run([sys.executable, "-c", SCRIPT], stderr=f, check=True, env=env)
    text = log.read_text()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 11 and lines[-1].startswith("train: 100% (200/200)")


def test_the_qgis_lines_stay_machine_readable(tmp_path) -> None:
    env = {"S2VEC_PROGRESS": "lines"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, env=env
    )
    lines = done.stderr.splitlines()
    assert lines[0] == "s2vec-progress: 0 train" and lines[-1] == "s2vec-progress: 100 train"
