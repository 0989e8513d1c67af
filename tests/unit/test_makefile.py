"""The Makefile's choices that keep the two targets apart, checked with ``make -n`` (dry runs)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make(*args: str, dry_run: bool = True, **environment: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_", "MAKE"))}
    env.update(environment)
    return subprocess.run(
        ["make", *(["-n"] if dry_run else []), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_local_target_points_terraform_at_the_local_stack():
    result = make("deploy", "LOCAL_PORT=4999")

    assert result.returncode == 0, result.stderr
    assert "-var 'local_endpoint=http://127.0.0.1:4999'" in result.stdout


def test_the_aws_target_ignores_an_endpoint_left_in_the_shell():
    result = make("deploy", "TARGET=aws", AWS_ENDPOINT_URL="http://127.0.0.1:4566")

    assert result.returncode == 0, result.stderr
    assert "local_endpoint" not in result.stdout
    assert "TARGET=aws ignores AWS_ENDPOINT_URL=http://127.0.0.1:4566" in result.stderr


def test_remote_state_settings_are_refused_for_the_local_target():
    result = make("help", "TF_BACKEND_CONFIG=backend.hcl")

    assert result.returncode == 2
    assert "TF_BACKEND_CONFIG is for TARGET=aws" in result.stderr


def test_the_plugin_directory_is_used_only_when_it_holds_the_pinned_provider(tmp_path):
    versions_tf = (ROOT / "terraform/base/versions.tf").read_text()
    pinned = re.search(r'^\s*version\s*=\s*"([0-9.]+)"', versions_tf, re.M).group(1)
    (tmp_path / "registry.terraform.io/hashicorp/aws/1.0.0").mkdir(parents=True)
    assert "-plugin-dir" not in make("tf-lint", f"TF_PLUGIN_DIR={tmp_path}").stdout

    (tmp_path / f"registry.terraform.io/hashicorp/aws/{pinned}").mkdir(parents=True)
    assert f"-plugin-dir={tmp_path}" in make("tf-lint", f"TF_PLUGIN_DIR={tmp_path}").stdout


def test_a_variables_file_reaches_both_terraform_roots(tmp_path):
    (tmp_path / "settings.tfvars").write_text('alert_email = "ops@example.com"\n')
    result = make("deploy", f"TF_VARS_FILE={tmp_path}/settings.tfvars")

    assert result.returncode == 0, result.stderr
    for root in ("base", "serving"):
        plan = next(
            line for line in result.stdout.splitlines() if f"chdir=terraform/{root} plan" in line
        )
        assert f"-var-file='{tmp_path}/settings.tfvars'" in plan


def test_the_aws_target_keeps_state_and_outputs_per_region():
    result = make("deploy", "TARGET=aws", "AWS_REGION=eu-west-1", "TF_BACKEND_CONFIG=backend.hcl")

    assert result.returncode == 0, result.stderr
    assert f"{ROOT}/build/aws/eu-west-1/terraform/base" in result.stdout
    assert "-backend-config=key=scones/aws/eu-west-1/base.tfstate" in result.stdout


def test_a_missing_variables_file_stops_make_before_anything_runs(tmp_path):
    result = make("deploy", f"TF_VARS_FILE={tmp_path}/missing.tfvars")

    assert result.returncode == 2
    assert f"TF_VARS_FILE={tmp_path}/missing.tfvars does not exist" in result.stderr
    assert "terraform" not in result.stdout


def test_base_is_applied_again_when_its_variables_change(tmp_path):
    """``make -p`` prints make's rules: base's outputs depend on a file of its variables,
    rewritten only when they change, and on the variables file named."""
    settings = tmp_path / "settings.tfvars"
    settings.write_text("")
    rules = make("-p", "infra", f"TF_VARS_FILE={settings}").stdout  # and its sub-make's
    found = re.findall(r"^build/local/base\.outputs\.json: (.*)$", rules, re.M)
    assert found
    for prerequisites in found:
        assert {"build/local/base.vars", str(settings)} <= set(prerequisites.split())


def help_entries() -> tuple[set[str], set[str]]:
    """The targets and the variables that ``make help`` lists."""
    done = make("--no-print-directory", "help", dry_run=False)
    assert done.returncode == 0, done.stderr
    shown = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    targets = set(re.findall(r"^  ([a-z][a-z0-9-]*) ", shown, re.M))
    variables = set(re.findall(r"^  ([A-Z][A-Z0-9_]*) ", shown, re.M))
    return targets, variables


# Targets the Makefile uses internally; nobody types them.
INTERNAL_TARGETS = {"stack", "FORCE"}


def test_make_help_lists_every_target_and_variable():
    """``make help`` says it shows every target and every variable a user can set."""
    text = (ROOT / "Makefile").read_text()
    phony = {t for line in re.findall(r"^\.PHONY:(.*)$", text, re.M) for t in line.split()}
    settable = set(re.findall(r"^([A-Z][A-Z0-9_]*) \?=", text, re.M))
    targets, variables = help_entries()
    assert phony - INTERNAL_TARGETS <= targets
    assert settable <= variables


def test_the_readme_names_every_target_and_variable_of_make_help():
    """The README's make targets and variables are the Makefile's: none is left undocumented."""
    readme = (ROOT / "README.md").read_text()
    targets, variables = help_entries()
    assert {t for t in targets if not re.search(rf"`make {t}\b|`{t}`", readme)} == set()
    assert {
        v for v in variables if not re.search(rf"(?<![A-Za-z0-9_]){v}(?![A-Za-z0-9_])", readme)
    } == set()
