"""The README's examples run as written, and its test command is the one CI runs."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)


def test_readme_swap_example_runs(capsys):
    code = _python_blocks()[0]
    assert "replace_adain" in code
    ns = {}
    exec(compile(code, "README.md", "exec"), ns)
    err = float(capsys.readouterr().out.strip().splitlines()[-1])
    assert err <= 1e-5


def test_readme_other_examples_run():
    blocks = _python_blocks()[1:]
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    cmd = re.search(r"# 2\. .*\n(.*)\n", readme).group(1).strip()
    install, test = (c.strip() for c in cmd.split("&&"))
    ci = (REPO / ".ci" / "run").read_text()
    assert install in ci and test in ci
