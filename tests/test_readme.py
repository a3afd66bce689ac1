"""The README's library example runs and does what it says."""

import re
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_learns_the_matrix(capsys):
    text = (ROOT / "README.md").read_text()
    code = re.search(r"<!-- readme-example -->\n```python\n(.*?)```", text, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README
    torch.testing.assert_close(scope["f"].A.data, scope["A"], atol=2e-3, rtol=0)
    assert scope["s"].nfe_backward > 0
