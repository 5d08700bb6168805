"""The demo (``make demo``) as a user runs it, its output going to a log file.

50 epochs of the bundled Helsinki sample at levels 18/15 with the default
model: the checkpoint (tens of MB) is written a few times, not once per epoch
(the issue counted 3.2 GB for 50 epochs), and the log holds plain lines, no
carriage-return progress bars.
"""

from __future__ import annotations

import json
import subprocess
import sys

# Runs the command line with every checkpoint write recorded (epoch and bytes).
RUN_COUNTING_CHECKPOINTS = """
import json, sys
import s2vec_geo.model.training as training
from s2vec_geo.cli import main

writes = []
write = training._save_checkpoint

def counted(path, state):
    write(path, state)
    writes.append([state["epoch"], path.stat().st_size])

training._save_checkpoint = counted
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    json.dump(writes, f)
sys.exit(code)
"""


def test_the_demo_writes_a_few_checkpoints_and_a_clean_log(sample_pbf, tmp_path) -> None:
    args = ["run", str(sample_pbf), "--level", "18", "--image-level", "15", "--epochs", "50"]
    args += ["--output", str(tmp_path / "helsinki.gpkg")]
    log = tmp_path / "demo.log"
    counts = tmp_path / "writes.json"
    with open(log, "w") as err:
        done = subprocess.run(
            [sys.executable, "-c", RUN_COUNTING_CHECKPOINTS, str(counts), *args],
            stdout=err,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            timeout=1800,
        )
    text = log.read_text()
    assert done.returncode == 0, text[-2000:]
    writes = json.loads(counts.read_text())
    assert 1 <= len(writes) <= 3, writes  # every 10 minutes and after epoch 50
    assert writes[-1][0] == 50
    assert "checkpoint.pt is written every 10 minutes and after the last epoch" in text
    assert "\r" not in text
    assert "train: 100%" in text  # progress as plain lines
    assert (tmp_path / "helsinki.gpkg").stat().st_size > 100_000
