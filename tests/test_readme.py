"""The README-command machinery (tests/_readme.py) on the README itself; the run in a
scratch copy is the last test of tests/test_pipeline.py."""

from __future__ import annotations

import re

from tests._readme import LONG, REWRITES, blocks, rewrite, scripts


def test_every_rewrite_is_used_and_nothing_long_runs_unrewritten():
    cmds = [c for block in blocks() for c in block]
    assert len(cmds) >= 25, cmds
    used = {id(rule) for c in cmds for rule in rewrite(c)[1]}
    dead = [rule.pattern for rule in REWRITES if id(rule) not in used]
    assert not dead, f"rewrites that match no README command (drop them): {dead}"
    long = [c for c in cmds if LONG.search(rewrite(c)[0])]
    assert not long, f"README commands that would run for real for too long: {long}"


def test_blocks_join_continuations_and_drop_comments(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("x\n```bash\n# a comment\ndvc exp run -S a=1 \\\n    -S b=2  # two\n"
                      "make repro\n```\n```python\nimport os\n```\n")
    assert blocks(readme) == [["dvc exp run -S a=1 -S b=2", "make repro"]]
    assert LONG.search("dvc exp run -S a=1") and LONG.search("make repro")
    assert scripts(readme) == ["set -euo pipefail\ndvc exp run --queue -S a=1 -S b=2\n"
                               "make -n repro\n"]


def test_profile_runs_are_queued_not_run():
    for cmd, want in (("python -m neuralode_repro.profile run tiny --exp smoke",
                       "python -m neuralode_repro.profile run tiny --exp smoke --queue"),
                      ("python -m neuralode_repro.profile run paper --queue",
                       "python -m neuralode_repro.profile run paper --queue"),
                      ("dvc exp run --temp $(x)", "dvc exp run --queue $(x)")):
        assert rewrite(cmd)[0] == want
        assert not LONG.search(want)
    assert re.search(LONG, "python -m neuralode_repro.profile run tiny")


def test_mlflow_model_loading_is_said_to_run_code():
    """Issue 32: an MLflow model is a pickle; the README must say that loading one runs
    code where it explains mlflow.pytorch.load_model."""
    from tests._repo import ROOT

    text = " ".join((ROOT / "README.md").read_text().split())
    at = text.index('mlflow.pytorch.load_model("models:/<model_id>")')
    assert "loading it runs code" in text[at:at + 400]
