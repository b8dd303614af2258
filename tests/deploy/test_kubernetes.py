"""The Kubernetes base (deploy/kubernetes): rendered without a cluster, validated against the
Kubernetes OpenAPI schemas offline (kubernetes-validate bundles them), and checked against the
code, so that the manifests cannot rot: every setting they set is one the processes read and
accept, every probe and scrape path is a route, every port agrees with the settings and the
arguments, every command is a real ``abgate`` subcommand.

Each check returns the problems it finds, one line each; the tests at the end break a copy of
the rendering in the ways a manifest rots (a probe path, a setting, a field) and see each
caught by name.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import dataclasses
import functools
import inspect
import io
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from gateway.cli import build_parser, cmd_serve, cmd_worker
from gateway.errors import ConfigError
from gateway.http.routes import ROUTES
from gateway.processes import ProcessGroup
from gateway.settings import Settings
from gateway.worker.consumer import ConsumerStats
from gateway.worker.health import WorkerState, health_app

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kubernetes"
OPERATIONS = ROOT / "docs" / "operations.md"
# The oldest and the newest Kubernetes whose schemas the validator bundles.
KUBE_VERSIONS = (all_versions()[0], all_versions()[-1])
# What the Python rendering understands of a kustomization; anything else is refused by name.
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "labels", "resources"}
LABELS_KEYS = {"pairs", "includeTemplates", "includeSelectors"}
# The gateway's uid in the image (Dockerfile) that the pods run as.
IMAGE_UID = 10001
# Variables the processes read that are not ABGATE_ settings.
OTHER_VARIABLES = {"REDIS_URL"}
A_TOKEN = "k8s-test-token-0123456789abcdef"

Obj = dict[str, Any]


def render(base: Path) -> list[Obj]:
    """What ``kubectl kustomize BASE`` gives for a plain base: its resources, in order, with
    the ``labels`` pairs added to every object's labels (and its pod template's, when
    includeTemplates is set)."""
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    unknown = sorted(set(kustomization) - KUSTOMIZATION_KEYS)
    if unknown:
        raise AssertionError(
            f"{base / 'kustomization.yaml'}: {unknown} is more than this test's rendering "
            f"reads ({sorted(KUSTOMIZATION_KEYS)}): extend render() or keep the base plain"
        )
    objects: list[Obj] = []
    for name in kustomization["resources"]:
        path = base / name
        if not path.is_file():
            raise AssertionError(f"kustomization.yaml resources: {name!r} is not a file in {base}")
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for entry in kustomization.get("labels", []):
        if set(entry) - LABELS_KEYS or entry.get("includeSelectors"):
            raise AssertionError(f"kustomization.yaml labels: {entry} (selectors are not rendered)")
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
            template = obj.get("spec", {}).get("template")
            if entry.get("includeTemplates") and template is not None:
                template.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    return objects


def kubectl_render(base: Path) -> list[Obj]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(base)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def by_id(objects: list[Obj]) -> dict[tuple[str, str], Obj]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def workloads(objects: list[Obj]) -> Iterator[Obj]:
    return (o for o in objects if o["kind"] in ("Deployment", "StatefulSet"))


def containers(objects: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    for workload in workloads(objects):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            yield workload, container


def where(workload: Obj, container: Obj | None = None) -> str:
    name = f"{workload['kind']}/{workload['metadata']['name']}"
    return f"{name} container {container['name']}" if container else name


def component(objects: list[Obj], name: str) -> Obj:
    (found,) = [
        w
        for w in workloads(objects)
        if w["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == name
    ]
    return found


def environment(objects: list[Obj], container: Obj) -> dict[str, str]:
    """The variables ``container`` gets: its envFrom ConfigMaps and Secrets, then its env."""
    found = by_id(objects)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if ref in source:
                obj = found.get((kind, source[ref]["name"]), {})
                data = obj.get("data", {})
                if kind == "Secret":  # base64 in data, as it is in stringData
                    data = {k: base64.b64decode(v).decode() for k, v in data.items()}
                env |= data | obj.get("stringData", {})
    for var in container.get("env", []):
        env[var["name"]] = str(var.get("value", ""))
    return env


def port_number(container: Obj, port: int | str) -> int | None:
    if isinstance(port, int):
        return port
    named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    return int(port) if port.isdigit() else named.get(port)


def settings_under(env: dict[str, str]) -> Settings:
    """Settings.from_env with exactly ``env`` (and no other ABGATE_ setting or REDIS_URL)."""
    saved = dict(os.environ)
    try:
        for name in list(os.environ):
            if name.startswith("ABGATE_") or name in OTHER_VARIABLES:
                del os.environ[name]
        os.environ.update(env)
        return Settings.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)


class RecordingEnviron(dict[str, str]):
    """os.environ that remembers the names it was asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


@functools.cache
def settings_the_code_reads() -> frozenset[str]:
    """The variables Settings.from_env reads, with every setting set (so that those read only
    when another is set are asked for too), and those the rest of the package reads itself
    (os.environ.get("ABGATE_...") or os.environ["ABGATE_..."])."""
    recording = RecordingEnviron({"ABGATE_ADMIN_TOKEN": A_TOKEN})
    with mock.patch.object(os, "environ", recording):
        Settings.from_env()
    pattern = re.compile(r"environ(?:\.get\(|\[)\s*['\"]((?:ABGATE_)[A-Z0-9_]+)['\"]")
    elsewhere = {
        name
        for module in (ROOT / "gateway").rglob("*.py")
        for name in pattern.findall(module.read_text())
    }
    return frozenset(recording.read | elsewhere | OTHER_VARIABLES)


def unauthenticated_gets() -> frozenset[str]:
    """The gateway's paths a probe or a scraper may GET without a token."""
    return frozenset(r.path for r in ROUTES if r.method == "GET" and r.role is None)


@functools.cache
def worker_gets() -> frozenset[str]:
    app = health_app(ConsumerStats(), WorkerState())
    return frozenset(
        route.resource.canonical
        for route in app.router.routes()
        if route.method == "GET" and route.resource is not None
    )


@functools.cache
def parser() -> argparse.ArgumentParser:
    return build_parser()


def parsed_args(container: Obj) -> Any:
    """The ``abgate`` command line of ``container``, parsed by the CLI's own parser (None when
    it refuses it: command_problems says so)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return parser().parse_args(container.get("args", []))
    except SystemExit:
        return None


def role(container: Obj) -> str | None:
    """ "gateway" or "worker", from the command line; None for any other."""
    args = parsed_args(container)
    func = getattr(args, "func", None)
    return {cmd_serve: "gateway", cmd_worker: "worker"}.get(func) if func else None


def settings_of(objects: list[Obj], container: Obj) -> Settings | None:
    """The settings ``container`` starts with, given a real token (None when a value is
    refused: setting_problems says so)."""
    try:
        return settings_under(environment(objects, container) | {"ABGATE_ADMIN_TOKEN": A_TOKEN})
    except ConfigError:
        return None


# --- the checks: each returns its problems, one line each -----------------------------------


@functools.cache
def schema_problem(text: str, version: str) -> str | None:
    """What the Kubernetes ``version`` schema (strict: no field it lacks) finds wrong with the
    object ``text`` (JSON; cached, as the broken copies below repeat most objects)."""
    obj = json.loads(text)
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        return f"{where(obj)} (Kubernetes {version}): {path}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError as exc:
        return f"{where(obj)}: {exc.message}"
    return None


def schema_problems(objects: list[Obj]) -> list[str]:
    found = (
        schema_problem(json.dumps(obj, sort_keys=True), version)
        for version in KUBE_VERSIONS
        for obj in objects
    )
    return [problem for problem in found if problem]


def namespace_problems(objects: list[Obj]) -> list[str]:
    return [
        f"{where(o)}: metadata.namespace {o['metadata']['namespace']!r} (the base sets none)"
        for o in objects
        if "namespace" in o["metadata"]
    ]


def setting_problems(objects: list[Obj]) -> list[str]:
    """Every variable a container gets is one the code reads, and Settings.from_env accepts
    the lot (the placeholder token aside, which it must refuse)."""
    real = settings_the_code_reads()
    problems = []
    for workload, container in containers(objects):
        env = environment(objects, container)
        problems += [
            f"{where(workload, container)}: {name} is not a setting the code reads"
            for name in sorted(set(env) - real)
        ]
        try:
            settings_under(env | {"ABGATE_ADMIN_TOKEN": A_TOKEN})
        except ConfigError as exc:
            problems.append(f"{where(workload, container)}: refused: {exc}")
    return problems


def reference_problems(objects: list[Obj]) -> list[str]:
    """envFrom, volumes and Service/PDB selectors name things that exist."""
    found = by_id(objects)
    problems = []
    for workload, container in containers(objects):
        for source in container.get("envFrom", []):
            for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if ref in source and (kind, source[ref]["name"]) not in found:
                    problems.append(
                        f"{where(workload, container)}: no {kind} {source[ref]['name']}"
                    )
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"].get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in volumes:
                problems.append(f"{where(workload, container)}: no volume {mount['name']}")
        for volume in volumes.values():
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim and ("PersistentVolumeClaim", claim) not in found:
                problems.append(f"{where(workload)}: no PersistentVolumeClaim {claim}")
    for workload in workloads(objects):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        selector = workload["spec"]["selector"]["matchLabels"]
        if selector.items() - labels.items():
            problems.append(f"{where(workload)}: its selector {selector} misses its pods {labels}")
    return problems


def selector_problems(objects: list[Obj]) -> list[str]:
    """The gateways' Service and PDB select the gateway pods and no others; the workers'
    governing Service selects the workers."""
    pods = {
        name: component(objects, name)["spec"]["template"]["metadata"]["labels"]
        for name in ("gateway", "worker")
    }
    worker_set = component(objects, "worker")
    problems = []
    for obj in objects:
        if obj["kind"] == "Service":
            selector = obj["spec"]["selector"]
        elif obj["kind"] == "PodDisruptionBudget":
            selector = obj["spec"]["selector"]["matchLabels"]
        else:
            continue
        governs = obj["metadata"]["name"] == worker_set["spec"]["serviceName"]
        expected = "worker" if obj["kind"] == "Service" and governs else "gateway"
        for name, labels in pods.items():
            if (name == expected) != (selector.items() <= labels.items()):
                problems.append(
                    f"{where(obj)}: its selector {selector} "
                    f"{'misses' if name == expected else 'also selects'} the {name} pods"
                )
    if ("Service", worker_set["spec"].get("serviceName")) not in by_id(objects):
        problems.append(f"{where(worker_set)}: no Service {worker_set['spec'].get('serviceName')}")
    return problems


def probe_problems(objects: list[Obj]) -> list[str]:
    """Probe and scrape paths are routes of the process (the gateway's ROUTES without a role,
    the worker's health app), on the port that process listens on."""
    problems = []
    for workload, container in containers(objects):
        settings, kind = settings_of(objects, container), role(container)
        if settings is None or kind is None:
            continue
        if kind == "gateway":
            paths, listens = unauthenticated_gets(), settings.port
        else:
            paths, listens = worker_gets(), parsed_args(container).metrics_port
        annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        checked: list[tuple[str, dict[str, Any]]] = [
            (kind, container[kind]["httpGet"])
            for kind in ("startupProbe", "livenessProbe", "readinessProbe")
            if kind in container
        ]
        if annotations.get("prometheus.io/scrape") == "true":
            scrape = {
                "path": annotations.get("prometheus.io/path", "/metrics"),
                "port": annotations.get("prometheus.io/port", ""),
            }
            checked.append(("prometheus.io annotations", scrape))
        else:
            problems.append(f"{where(workload)}: no prometheus.io/scrape: 'true' annotation")
        if "livenessProbe" not in container:
            problems.append(f"{where(workload, container)}: no livenessProbe")
        for kind, get in checked:
            if get["path"] not in paths:
                problems.append(
                    f"{where(workload, container)}: {kind} path {get['path']!r} is not one of "
                    f"{sorted(paths)}"
                )
            if port_number(container, get["port"]) != listens:
                problems.append(
                    f"{where(workload, container)}: {kind} port {get['port']!r} is not the "
                    f"port the process listens on ({listens})"
                )
        if listens not in {p["containerPort"] for p in container.get("ports", [])}:
            problems.append(f"{where(workload, container)}: no containerPort {listens}")
    return problems


def command_problems(objects: list[Obj]) -> list[str]:
    """``abgate serve`` and ``abgate worker`` command lines the CLI's parser takes."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    problems = []
    for workload, container in containers(objects):
        if container.get("command") != ["abgate"] or "abgate" not in scripts:
            problems.append(f"{where(workload, container)}: command is not ['abgate']")
        args = parsed_args(container)
        if args is None:
            problems.append(
                f"{where(workload, container)}: abgate refuses its args {container.get('args')}"
            )
            continue
        if role(container) is None:
            problems.append(f"{where(workload, container)}: {args.command} is not serve or worker")
        if role(container) == "worker" and args.metrics_port is None:
            problems.append(f"{where(workload, container)}: a worker without --metrics-port")
    return problems


def pod_problems(objects: list[Obj]) -> list[str]:
    """Non-root as the image's user, a read-only root, and every directory the settings write
    to on a volume (the models on the shared ReadWriteMany claim)."""
    found = by_id(objects)
    problems = []
    for workload, container in containers(objects):
        pod = workload["spec"]["template"]["spec"]
        context = pod.get("securityContext", {})
        if not context.get("runAsNonRoot") or context.get("runAsUser") != IMAGE_UID:
            problems.append(f"{where(workload)}: not runAsNonRoot as uid {IMAGE_UID}")
        own = container.get("securityContext", {})
        if not own.get("readOnlyRootFilesystem") or own.get("allowPrivilegeEscalation", True):
            problems.append(f"{where(workload, container)}: root filesystem not read-only")
        settings = settings_of(objects, container)
        if settings is None:
            continue
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        mounts = {Path(m["mountPath"]): m["name"] for m in container.get("volumeMounts", [])}
        writes = [settings.var_dir]
        if role(container) == "gateway":
            writes.append(settings.models_dir)
        for directory in writes:
            on = [mounts[m] for m in mounts if directory == m or m in directory.parents]
            if not on:
                problems.append(f"{where(workload, container)}: {directory} is on no volume")
        models = [mounts[m] for m in mounts if m == settings.models_dir]
        if role(container) == "gateway":
            claim = volumes.get(models[0], {}) if models else {}
            name = claim.get("persistentVolumeClaim", {}).get("claimName")
            modes = found.get(("PersistentVolumeClaim", name), {}).get("spec", {})
            if "ReadWriteMany" not in modes.get("accessModes", []):
                problems.append(
                    f"{where(workload, container)}: ABGATE_MODELS_DIR is not on a "
                    "ReadWriteMany claim (every gateway must read the same files)"
                )
    return problems


def drain_problems(objects: list[Obj]) -> list[str]:
    """The gateways outlast their drain: the preStop sleep, then abgate serve's stop of its
    processes, within terminationGracePeriodSeconds; the start-up probe outlasts the wait
    for Redis."""
    gateway = component(objects, "gateway")
    pod = gateway["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    problems = []
    sleep = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    if len(sleep) != 2 or sleep[0] != "sleep" or not sleep[1].isdigit():
        problems.append(f"{where(gateway, container)}: no preStop sleep")
        sleep = ["sleep", "0"]
    stop_s = inspect.signature(ProcessGroup.stop).parameters["timeout_s"].default
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace <= int(sleep[1]) + stop_s:
        problems.append(
            f"{where(gateway)}: terminationGracePeriodSeconds {grace} is not longer than the "
            f"preStop sleep ({sleep[1]} s) and the processes' stop ({stop_s} s)"
        )
    waits = {f.name: f.default for f in dataclasses.fields(Settings)}
    wait_s = waits.get("redis_wait_s", 0.0)
    for workload, own in containers(objects):
        probe = own.get("startupProbe", {})
        budget = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
        if budget <= wait_s:
            problems.append(
                f"{where(workload, own)}: its startupProbe gives up after {budget} s, "
                f"before the wait for Redis does ({wait_s} s)"
            )
    return problems


CHECKS: list[Callable[[list[Obj]], list[str]]] = [
    schema_problems,
    namespace_problems,
    setting_problems,
    reference_problems,
    selector_problems,
    probe_problems,
    command_problems,
    pod_problems,
    drain_problems,
]


@pytest.fixture(scope="module")
def rendered() -> list[Obj]:
    return render(BASE)


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_the_base_passes(check: Callable[[list[Obj]], list[str]], rendered: list[Obj]) -> None:
    assert check(copy.deepcopy(rendered)) == []


def test_the_base_holds_what_a_deployment_needs(rendered: list[Obj]) -> None:
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in rendered)
    assert kinds == [
        "ConfigMap/abgate-settings",
        "Deployment/abgate-gateway",
        "PersistentVolumeClaim/abgate-models",
        "PodDisruptionBudget/abgate-gateway",
        "Secret/abgate-secrets",
        "Service/abgate-gateway",
        "Service/abgate-worker",
        "StatefulSet/abgate-worker",
    ]
    assert component(rendered, "gateway")["spec"]["replicas"] >= 2
    assert all(o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "abgate" for o in rendered)


def test_the_placeholder_token_is_refused(rendered: list[Obj]) -> None:
    """Applied as shipped, no process starts with a token anyone can read in the base."""
    for _, container in containers(rendered):
        with pytest.raises(ConfigError, match="ABGATE_ADMIN_TOKEN"):
            settings_under(environment(rendered, container))


@pytest.mark.skipif(
    shutil.which("kubectl") is None,
    reason="no kubectl on PATH: only this test's own rendering of the base is checked",
)
def test_kubectl_renders_the_base_as_this_test_does(rendered: list[Obj]) -> None:
    assert by_id(kubectl_render(BASE)) == by_id(rendered)


def overlay_example() -> str:
    """The overlay docs/operations.md shows (its "Kubernetes" section's kustomization)."""
    section = OPERATIONS.read_text().partition("\n## Kubernetes\n")[2].partition("\n## ")[0]
    found = re.search(r"```yaml\n(# kustomization\.yaml.*?)```", section, flags=re.S)
    assert found, "docs/operations.md, Kubernetes: no ```yaml block of a kustomization.yaml"
    return found.group(1)


@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="no kubectl on PATH to render the docs' overlay"
)
def test_the_overlay_in_the_docs_renders_and_passes(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    text = overlay_example()
    base_ref = re.search(r"resources:\n\s+- (\S+)", text)
    assert base_ref, "the overlay names no base in resources"
    text = text.replace(base_ref.group(1), os.path.relpath(BASE, overlay))
    (overlay / "kustomization.yaml").write_text(text)
    (overlay / "abgate.env").write_text(
        f"ABGATE_ADMIN_TOKEN={A_TOKEN}\nREDIS_URL=redis+cluster://redis-0.redis:6379\n"
    )
    objects = kubectl_render(overlay)
    for check in CHECKS:
        if check is not namespace_problems:
            assert check(copy.deepcopy(objects)) == [], check.__name__
    images = {c["image"] for _, c in containers(objects)}
    assert images and "abgate" not in images
    secret = by_id(objects)[("Secret", "abgate-secrets")]
    assert "ABGATE_ADMIN_TOKEN" in secret.get("data", {}) and "stringData" not in secret


# --- the checks catch a broken manifest ------------------------------------------------------


def gateway_container(objects: list[Obj]) -> Obj:
    container: Obj = component(objects, "gateway")["spec"]["template"]["spec"]["containers"][0]
    return container


def worker_container(objects: list[Obj]) -> Obj:
    container: Obj = component(objects, "worker")["spec"]["template"]["spec"]["containers"][0]
    return container


def settings_map(objects: list[Obj]) -> Obj:
    data: Obj = by_id(objects)[("ConfigMap", "abgate-settings")]["data"]
    return data


BREAKAGES: dict[str, tuple[Callable[[list[Obj]], None], str]] = {
    "a probe path that is no route": (
        lambda o: gateway_container(o)["readinessProbe"]["httpGet"].update(path="/ready"),
        "readinessProbe path '/ready' is not one of",
    ),
    "a worker probe on the gateway's path": (
        lambda o: worker_container(o)["livenessProbe"]["httpGet"].update(path="/readyz"),
        "livenessProbe path '/readyz' is not one of ['/healthz', '/metrics']",
    ),
    "a setting no code reads": (
        lambda o: settings_map(o).update(ABGATE_WORKERS="4"),
        "ABGATE_WORKERS is not a setting the code reads",
    ),
    "a setting's value refused": (
        lambda o: settings_map(o).update(ABGATE_SHARDS="two"),
        "refused: ABGATE_SHARDS: expected a number, got 'two'",
    ),
    "a field Kubernetes does not have": (
        lambda o: gateway_container(o).update(readinesProbe=gateway_container(o)["readinessProbe"]),
        "'readinesProbe' was unexpected",
    ),
    "a value of the wrong type": (
        lambda o: gateway_container(o)["ports"][0].update(containerPort="8080"),
        "'8080' is not of type 'integer'",
    ),
    "a port the gateway does not listen on": (
        lambda o: settings_map(o).update(ABGATE_PORT="8081"),
        "is not the port the process listens on (8081)",
    ),
    "a scrape port that is not the worker's": (
        lambda o: component(o, "worker")["spec"]["template"]["metadata"]["annotations"].update(
            {"prometheus.io/port": "8080"}
        ),
        "prometheus.io annotations port '8080' is not the port the process listens on (9090)",
    ),
    "a flag abgate does not have": (
        lambda o: worker_container(o).update(args=["worker", "--metric-port", "9090"]),
        "abgate refuses its args",
    ),
    "an internal command": (
        lambda o: gateway_container(o).update(args=["serve-one"]),
        "serve-one is not serve or worker",
    ),
    "a PDB that selects no gateway": (
        lambda o: by_id(o)[("PodDisruptionBudget", "abgate-gateway")]["spec"]["selector"][
            "matchLabels"
        ].update({"app.kubernetes.io/component": "gateways"}),
        "misses the gateway pods",
    ),
    "a hard-coded namespace": (
        lambda o: settings_map_owner(o)["metadata"].update(namespace="default"),
        "metadata.namespace 'default'",
    ),
    "a grace period shorter than the drain": (
        lambda o: component(o, "gateway")["spec"]["template"]["spec"].update(
            terminationGracePeriodSeconds=20
        ),
        "terminationGracePeriodSeconds 20 is not longer than",
    ),
    "models on a volume of each pod's own": (
        lambda o: by_id(o)[("PersistentVolumeClaim", "abgate-models")]["spec"].update(
            accessModes=["ReadWriteOnce"]
        ),
        "ABGATE_MODELS_DIR is not on a ReadWriteMany claim",
    ),
    "a writable directory on the read-only root": (
        lambda o: settings_map(o).update(ABGATE_VAR_DIR="/srv/abgate"),
        "/srv/abgate is on no volume",
    ),
}


def settings_map_owner(objects: list[Obj]) -> Obj:
    return by_id(objects)[("ConfigMap", "abgate-settings")]


@pytest.mark.parametrize("breakage", BREAKAGES, ids=list(BREAKAGES))
def test_a_broken_manifest_is_caught(breakage: str, rendered: list[Obj]) -> None:
    breaking, expected = BREAKAGES[breakage]
    objects = copy.deepcopy(rendered)
    breaking(objects)
    problems = [p for check in CHECKS for p in check(objects)]
    assert any(expected in p for p in problems), problems
