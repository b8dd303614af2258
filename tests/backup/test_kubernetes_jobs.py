"""The backup CronJob and the restore Job that docs/operations.md ("Backups") gives: valid
Kubernetes objects (strict schema), with the reference deployment's image, settings, secrets,
model store claim and its mount path (deploy/kubernetes), and a command line abgate parses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from gateway.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"
BASE = ROOT / "deploy" / "kubernetes"


def section(title: str) -> str:
    text = OPERATIONS.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def documented() -> dict[str, dict[str, Any]]:
    blocks = re.findall(r"```yaml\n(.*?)```", section("Backups"), re.S)
    objects = [yaml.safe_load(block) for block in blocks]
    return {obj["kind"]: obj for obj in objects}


def base_gateway() -> dict[str, Any]:
    return yaml.safe_load((BASE / "gateway.yaml").read_text())


def pod_of(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def test_the_docs_give_a_backup_cronjob_and_a_restore_job() -> None:
    assert sorted(documented()) == ["CronJob", "Job"]


@pytest.mark.parametrize("kind", ["CronJob", "Job"])
@pytest.mark.parametrize("version", [all_versions()[0], all_versions()[-1]])
def test_each_is_a_valid_object(kind: str, version: str) -> None:
    kubernetes_validate.validate(documented()[kind], version, strict=True)


@pytest.mark.parametrize("kind", ["CronJob", "Job"])
def test_each_runs_with_the_deployments_settings_and_model_store(kind: str) -> None:
    gateway = pod_of({"kind": "Deployment", "spec": base_gateway()["spec"]})
    pod = pod_of(documented()[kind])
    (container,) = pod["containers"]
    (served,) = gateway["containers"]
    assert container["image"] == served["image"]
    assert container["envFrom"] == served["envFrom"]
    claim = next(v for v in gateway["volumes"] if v["name"] == "models")
    assert claim in pod["volumes"]
    path = next(m["mountPath"] for m in served["volumeMounts"] if m["name"] == "models")
    assert {"name": "models", "mountPath": path} == {
        k: v
        for k, v in next(m for m in container["volumeMounts"] if m["name"] == "models").items()
        if k != "readOnly"
    }
    assert pod["securityContext"]["runAsUser"] == gateway["securityContext"]["runAsUser"]


def test_their_command_lines_are_abgates() -> None:
    parser = build_parser()
    cron = pod_of(documented()["CronJob"])["containers"][0]["command"]
    assert cron[:2] == ["sh", "-c"]
    line = shlex.split(cron[2].replace("$(date -u +%Y%m%dT%H%M)", "20261208T0300"))
    assert line[:2] == ["exec", "abgate"]
    assert parser.parse_args(line[2:]).func.__name__ == "cmd_backup"
    job = pod_of(documented()["Job"])["containers"][0]
    assert job["command"] == ["abgate"]
    args = parser.parse_args(job["args"])
    assert args.func.__name__ == "cmd_restore" and args.file.startswith("/backups/")
