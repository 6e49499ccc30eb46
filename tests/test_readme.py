"""The README's Python examples run as written, and its test command is the one CI runs."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_model_example_runs():
    blocks = [b for b in python_blocks() if "AUMDF.from_config" in b]
    assert blocks, "README lost its model example"
    scope: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)
    out = scope["out"]
    assert out.prediction.shape == (2,)
    assert out.attention["text"].shape[-1] == 150 + 100


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    test_cmd = next(line.split("#")[0].strip() for block in commands for line in block.splitlines() if "pytest" in line)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in [line.strip() for line in ci], f"CI does not run the README's test command {test_cmd!r}"
