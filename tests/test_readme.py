"""The README's Python tour runs as written (so its examples cannot silently rot)."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.skipif(not README.exists(), reason="README not shipped with this installation")
def test_readme_python_blocks_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 5
    namespace = {"__name__": "__readme__"}
    for code in blocks:
        exec(compile(code, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    # the tour's promises: the REML fit prints lme4's sleepstudy estimate (251.4), and the
    # eight-schools posterior mean of tau is near 3.6 (Gelman et al., BDA3, section 5.5)
    assert "251.4" in out
    post = namespace["post"]
    tau = post.mean()[list(post.names).index("tau")]
    assert 3.0 < tau < 4.3
