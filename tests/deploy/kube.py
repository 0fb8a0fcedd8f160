"""Rendering the kustomize overlays and reading what the rendered objects say."""

from __future__ import annotations

import fnmatch
import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("single-node", "scale-out")
SECRET_EXAMPLES = K8S / "base" / "secrets.example.yaml"
NAMESPACE = "mlops-poc"

Doc = dict[str, Any]


def tool(name: str, hint: str) -> str:
    """The executable ``name``: the virtualenv's own first, then PATH; a clear failure if absent."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is needed for the deployment checks but is not installed: {hint}")
    return found


def kubectl() -> str:
    return tool("kubectl", "install kubectl (it renders the overlays with `kubectl kustomize`)")


@functools.cache
def _kustomize(directory: Path) -> str:
    # Several test modules render the same overlays; the manifests do not change during a run.
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return result.stdout


def render(directory: Path) -> list[Doc]:
    """``kubectl kustomize directory``, parsed: one dict per rendered object (fresh objects on
    every call, so a test may change them)."""
    return [doc for doc in yaml.safe_load_all(_kustomize(directory)) if doc]


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def label(doc: Doc) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def pod_spec(doc: Doc) -> Doc:
    """The pod template's spec of a workload (Deployment, StatefulSet, Job, CronJob)."""
    if doc["kind"] == "CronJob":
        spec: Doc = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    template_spec: Doc = doc["spec"]["template"]["spec"]
    return template_spec


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "CronJob")


def workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in WORKLOAD_KINDS]


def containers(spec: Doc, *, init: bool = True) -> list[Doc]:
    found: list[Doc] = list(spec.get("initContainers", [])) if init else []
    return found + list(spec["containers"])


def container(spec: Doc, name: str) -> Doc:
    for c in containers(spec):
        if c["name"] == name:
            return c
    raise AssertionError(f"no container {name!r} in {[c['name'] for c in containers(spec)]}")


def env_entry(c: Doc, name: str) -> Doc | None:
    for entry in c.get("env", []):
        if entry["name"] == name:
            found: Doc = entry
            return found
    return None


def config_map_env(docs: list[Doc], c: Doc) -> dict[str, str]:
    """The variables a container gets from its envFrom ConfigMaps."""
    values: dict[str, str] = {}
    for source in c.get("envFrom", []):
        if "configMapRef" in source:
            values.update(find(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    return values


def effective_env(docs: list[Doc], c: Doc) -> dict[str, str]:
    """Plain values a container sees (envFrom ConfigMaps, then env values); secrets excluded."""
    values = config_map_env(docs, c)
    for entry in c.get("env", []):
        if "value" in entry:
            values[entry["name"]] = entry["value"]
        else:
            values.pop(entry["name"], None)
    return values


@dataclass(frozen=True)
class SecretRef:
    secret: str
    key: str
    where: str


def secret_refs(docs: list[Doc]) -> Iterator[SecretRef]:
    for doc in workloads(docs):
        for c in containers(pod_spec(doc)):
            for entry in c.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    where = f"{label(doc)} {c['name']} {entry['name']}"
                    yield SecretRef(ref["name"], ref["key"], where)


def secret_examples() -> dict[str, dict[str, str]]:
    """name → stringData of the Secrets in secrets.example.yaml."""
    docs = [d for d in yaml.safe_load_all(SECRET_EXAMPLES.read_text()) if d]
    return {d["metadata"]["name"]: d["stringData"] for d in docs}


def secret_example_docs() -> list[Doc]:
    return [d for d in yaml.safe_load_all(SECRET_EXAMPLES.read_text()) if d]


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)([a-zA-Z]*)$")
_FACTORS = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
}


def quantity(text: str | int | float) -> float:
    """A Kubernetes quantity (``500m``, ``1.5``, ``384Mi``) as a number of base units."""
    match = _QUANTITY.match(str(text))
    assert match, f"unexpected quantity {text!r}"
    assert match.group(2) in _FACTORS, f"unexpected unit in {text!r}"
    return float(match.group(1)) * _FACTORS[match.group(2)]


def pod_resources(spec: Doc, kind: str, resource: str) -> float:
    """What one pod reserves (``kind`` = requests or limits): the larger of its containers' sum
    and its largest init container, as the scheduler counts."""
    main = sum(quantity(c["resources"][kind][resource]) for c in spec["containers"])
    init = [quantity(c["resources"][kind][resource]) for c in spec.get("initContainers", [])]
    return max([main, *init])


def replicas(doc: Doc) -> int:
    """Pods a workload runs at once (a CronJob with concurrencyPolicy Forbid: one)."""
    if doc["kind"] in ("Deployment", "StatefulSet"):
        return int(doc["spec"].get("replicas", 1))
    return 1


def ingress_routes(ingress: Doc, path: str) -> bool:
    """Whether the Ingress sends ``path`` to a backend, by the Kubernetes rules for Exact and
    Prefix (a Prefix matches whole path segments: /games matches /games/x, not /gamesx)."""
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            rule_path: str = entry["path"]
            if entry["pathType"] == "Exact" and path == rule_path:
                return True
            if entry["pathType"] == "Prefix":
                prefix = rule_path.rstrip("/")
                if prefix == "" or path == prefix or path.startswith(prefix + "/"):
                    return True
            if entry["pathType"] not in ("Exact", "Prefix"):
                raise AssertionError(f"pathType {entry['pathType']} has no portable meaning")
    return False


def host_allowed(patterns: list[str], host: str) -> bool:
    """MLflow's Host-header check: shell-style patterns where they have a '*', else equality."""
    return any(fnmatch.fnmatch(host, p) if "*" in p else host == p for p in patterns)
