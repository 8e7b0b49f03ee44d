"""scripts/results_tables.py prints the README's real-scale tables from the committed store,
the ratios behind its verdicts included (MiniLM-L6's searches there are final)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "results_tables.py"


def test_real_scale_tables_carry_the_verdicts_ratios(data_dir):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--scale", "real"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "### d90 ratios of the real scale" in out
    # SAID vs DID on SST-2, and MiniLM-L6 against the paper's RoBERTa-Base on MRPC (README)
    assert "| minilm-l6 | sst2 | DID / SAID | paper | 2.83× (2.00–4.00×) |" in out
    assert "| minilm-l6 / RoBERTa-Base | mrpc | SAID | paper | 8.08× (5.71–8.08×) |" in out
    assert "| RoBERTa-Base | mrpc | DID / SAID | paper | 1.12× |" in out  # the paper's own
