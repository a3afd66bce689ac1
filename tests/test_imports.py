"""Stage start-up: importing a stage loads torch and the pipeline, and nothing heavy it
may not use. mlflow loads when the stage's run opens, torchvision when MNIST is read or
downloaded, matplotlib in the figure stages only (benchmarks/startup.py measures it)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests._repo import ROOT

PROBE = """
import json, runpy, sys
from pathlib import Path
sys.path.insert(0, "stages")
heavy = ("mlflow", "matplotlib", "torchvision", "scipy", "pandas", "dvc", "sqlalchemy")
seen = {}
stages = sorted(Path("stages").glob("[a-z]*.py"), key=lambda p: p.stem.startswith("figures"))
for path in stages:  # the figure stages last: they load matplotlib
    runpy.run_path(str(path), run_name="imported")
    seen[path.stem] = sorted(m for m in heavy if m in sys.modules)
print(json.dumps(seen))
"""


def test_stages_import_nothing_heavy_they_may_not_use():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    seen = json.loads(out.stdout)
    assert len(seen) >= 18
    for stage, loaded in seen.items():
        # modules accumulate in one process: a figure stage sees what earlier ones loaded
        want = ["matplotlib"] if stage.startswith("figures") else []
        assert loaded == want, (stage, loaded)
