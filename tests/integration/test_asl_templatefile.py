"""The asl/ definitions rendered by Terraform's own ``templatefile`` and by ``monitor.definitions``.

``monitor.definitions.render`` stands in for ``templatefile`` wherever a definition is rendered
without Terraform (the local deployment helpers, the graphs); this runs the terraform binary
(``init`` and ``apply`` of a root with outputs only, no provider) to prove both give the same JSON.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from monitor import definitions

pytestmark = [
    pytest.mark.terraform,
]


def values(key: str) -> dict[str, str | int]:
    """A value for each variable of one definition (``max_concurrency`` is a number)."""
    names = definitions.variables(definitions.ASL_DIR / definitions.DEFINITIONS[key])
    return {
        name: 8 if name == "max_concurrency" else f"arn:aws:lambda:us-east-1:123456789012:{name}"
        for name in names
    }


def test_terraform_templatefile_renders_the_same(tmp_path):
    outputs = []
    for key, name in definitions.DEFINITIONS.items():
        tf_values = ", ".join(f"{n} = {json.dumps(v)}" for n, v in sorted(values(key).items()))
        outputs.append(
            f'output "{key.replace("-", "_")}" {{\n'
            f'  value = templatefile("{definitions.ASL_DIR / name}", {{ {tf_values} }})\n}}'
        )
    (tmp_path / "main.tf").write_text("\n".join(outputs) + "\n")
    environment = {
        **os.environ,
        "TF_DATA_DIR": str(tmp_path / ".terraform"),
        "TF_IN_AUTOMATION": "1",
    }

    def terraform(*arguments: str) -> str:
        return subprocess.run(
            ["terraform", f"-chdir={tmp_path}", *arguments],
            check=True,
            capture_output=True,
            text=True,
            env=environment,
        ).stdout

    terraform("init", "-input=false")
    terraform("apply", "-input=false", "-auto-approve")
    for key, name in definitions.DEFINITIONS.items():
        rendered = definitions.render(definitions.ASL_DIR / name, values(key))
        assert json.loads(terraform("output", "-raw", key.replace("-", "_"))) == rendered
