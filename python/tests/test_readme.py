"""The README's Python examples run as written (from the project folder)."""
import os
import re
import subprocess
import sys

import pytest

import leo
from conftest import ROOT


def python_blocks():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text[text.index("### Python"):]
    section = section[:section.index("\n### ", 1)]
    return [re.sub(r"(?m)^  ", "", b) for b in re.findall(r"```python\n(.*?)```", section, re.S)]


def test_readme_examples_run(tmp_path):
    blocks = python_blocks()
    assert len(blocks) >= 2
    try:
        leo.load_data("mnist")
    except leo.InputError as e:
        pytest.skip(f"the MNIST digits are not installed (scripts/setup): {e}")
    for block in blocks:
        p = subprocess.run([sys.executable, "-c", block], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"{block}\n---\n{p.stdout}\n{p.stderr}"
