"""Stage start-up: importing a stage loads torch and the pipeline, and nothing heavy it
may not use. mlflow loads when the stage's run opens, torchvision when MNIST is read or
downloaded, matplotlib (and PIL) when a figure stage draws its first figure, after its
params, inputs and models are checked (figures/style.py; benchmarks/startup.py measures
start-up)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests._repo import ROOT

PROBE = """
import json, runpy, sys
from pathlib import Path
sys.path.insert(0, "stages")
heavy = ("mlflow", "matplotlib", "PIL", "torchvision", "scipy", "pandas", "dvc",
         "sqlalchemy")
seen = {}
for path in sorted(Path("stages").glob("[a-z]*.py")):
    runpy.run_path(str(path), run_name="imported")
    seen[path.stem] = sorted(m for m in heavy if m in sys.modules)
print(json.dumps(seen))
"""


def test_stages_import_nothing_heavy_they_may_not_use():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    seen = json.loads(out.stdout)
    assert len(seen) >= 18
    assert {"figures_cnf", "figures_latent", "figures_mnist", "figures_toy"} <= set(seen)
    for stage, loaded in seen.items():
        # modules accumulate in one process: the first stage listed is the one to fix
        assert loaded == [], (stage, loaded)
