"""scripts/build_push_deploy.sh, run as an operator runs it.

There is no Docker engine or cluster here, so `docker` and `kubectl` are stand-ins on PATH that
record how they were called (the kubectl stand-in renders what `apply -k` is given with the real
kubectl, so the test sees the manifests a cluster would receive).
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.kube import REPO, Doc, find, kubectl, pod_spec, workloads

SCRIPT = REPO / "scripts" / "build_push_deploy.sh"

FAKE_DOCKER = """#!/bin/sh
echo "docker $*" >> "$CALLS"
"""

# `get secret NAME` fails for the names in $MISSING_SECRETS; `apply -k DIR` renders DIR;
# `kustomize` is the real thing.
FAKE_KUBECTL = """#!/bin/sh
echo "kubectl $*" >> "$CALLS"
case " $* " in
    " kustomize "*)
        exec "$REAL_KUBECTL" "$@" ;;
    *" get secret "*)
        for missing in $MISSING_SECRETS; do
            case " $* " in *" $missing "*) exit 1 ;; esac
        done ;;
    *" apply -k "*)
        for last; do :; done
        exec "$REAL_KUBECTL" kustomize "$last" > "$APPLIED" ;;
esac
exit 0
"""


class Operator:
    """Runs the script with stand-in docker and kubectl and reads what they were asked."""

    def __init__(self, tmp_path: Path) -> None:
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for name, body in (("docker", FAKE_DOCKER), ("kubectl", FAKE_KUBECTL)):
            path = self.bin / name
            path.write_text(body)
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        self.calls_file = tmp_path / "calls.txt"
        self.applied_file = tmp_path / "applied.yaml"
        self.env = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "TMPDIR": str(tmp_path),
            "CALLS": str(self.calls_file),
            "APPLIED": str(self.applied_file),
            "REAL_KUBECTL": kubectl(),
            "GIT_REVISION": "0123abc",
        }

    def run(self, *args: str, missing_secrets: str = "") -> subprocess.CompletedProcess[str]:
        env = {**self.env, "MISSING_SECRETS": missing_secrets}
        return subprocess.run(
            ["bash", str(SCRIPT), *args],
            env=env,
            cwd=self.bin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def calls(self) -> list[str]:
        if not self.calls_file.exists():
            return []
        return self.calls_file.read_text().splitlines()

    def applied(self) -> list[Doc]:
        return [d for d in yaml.safe_load_all(self.applied_file.read_text()) if d]


@pytest.fixture
def operator(tmp_path: Path) -> Operator:
    return Operator(tmp_path)


def printed_commands(output: str) -> list[str]:
    """The commands the script announced (``+ cmd``), unquoted back to plain words."""
    return [
        " ".join(shlex.split(line[2:])) for line in output.splitlines() if line.startswith("+ ")
    ]


RELEASE = ("--tag", "1.2.3", "--registry", "registry.example.com/games")


def test_script_is_valid_bash() -> None:
    result = subprocess.run(
        ["bash", "-n", str(SCRIPT)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert os.access(SCRIPT, os.X_OK)


def test_help_describes_every_flag_and_runs_nothing(operator: Operator) -> None:
    result = operator.run("--help")
    assert result.returncode == 0
    for flag in ("--tag", "--registry", "--push", "--deploy", "--namespace", "--dry-run"):
        assert flag in result.stdout
    assert "secrets.example.yaml" in result.stdout
    assert operator.calls() == []


def test_dry_run_prints_build_push_and_deploy_commands_without_running_any(
    operator: Operator,
) -> None:
    result = operator.run(*RELEASE, "--push", "--deploy", "--namespace", "rps-demo", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert operator.calls() == []
    commands = printed_commands(result.stdout)
    app = "registry.example.com/games/rps-app:1.2.3"
    trainer = "registry.example.com/games/rps-trainer:1.2.3"
    assert commands[:4] == [
        "docker build --file deploy/docker/app.Dockerfile --build-arg GIT_REVISION=0123abc "
        f"--tag {app} .",
        "docker build --file deploy/docker/trainer.Dockerfile --build-arg GIT_REVISION=0123abc "
        f"--tag {trainer} .",
        f"docker push {app}",
        f"docker push {trainer}",
    ]
    assert any(c.startswith("kubectl apply -k ") for c in commands)
    assert commands[-1] == (
        "kubectl --namespace rps-demo rollout status deployment/rps-app --timeout=600s"
    )


def test_build_only_runs_docker_build_for_both_images(operator: Operator) -> None:
    result = operator.run("--tag", "dev")
    assert result.returncode == 0, result.stderr
    assert operator.calls() == [
        "docker build --file deploy/docker/app.Dockerfile --build-arg GIT_REVISION=0123abc "
        "--tag rps-app:dev .",
        "docker build --file deploy/docker/trainer.Dockerfile --build-arg GIT_REVISION=0123abc "
        "--tag rps-trainer:dev .",
    ]


def test_deploy_applies_the_overlay_with_the_release_images_and_namespace(
    operator: Operator,
) -> None:
    result = operator.run(
        *RELEASE, "--push", "--deploy", "--namespace", "rps-demo", "--overlay", "scale-out"
    )
    assert result.returncode == 0, result.stderr
    calls = operator.calls()
    assert calls == printed_commands(result.stdout), "it runs exactly what it prints"
    assert calls.index("docker push registry.example.com/games/rps-trainer:1.2.3") < next(
        i for i, c in enumerate(calls) if c.startswith("kubectl apply")
    )

    applied = operator.applied()
    images = {c["image"] for d in workloads(applied) for c in pod_spec(d)["containers"]}
    assert {
        "registry.example.com/games/rps-app:1.2.3",
        "registry.example.com/games/rps-trainer:1.2.3",
    } <= images
    assert not any(i.startswith(("rps-app:", "rps-trainer:")) for i in images)
    find(applied, "Namespace", "rps-demo")
    assert {d["metadata"].get("namespace", "rps-demo") for d in applied} == {"rps-demo"}
    find(applied, "HorizontalPodAutoscaler", "rps-app")
    assert not (REPO / "deploy" / "k8s" / "release").exists(), "the repository stays untouched"


def test_deploy_stops_before_applying_when_a_secret_is_missing(operator: Operator) -> None:
    result = operator.run(*RELEASE, "--deploy", missing_secrets="rps-minio")
    assert result.returncode == 1
    assert "Secret rps-minio is missing in namespace mlops-poc" in result.stderr
    assert "secrets.example.yaml" in result.stderr
    assert not any(c.startswith("kubectl apply") for c in operator.calls())


def test_render_prints_the_manifests_a_deploy_would_apply(operator: Operator) -> None:
    result = operator.run("--tag", "7", "--render", "--namespace", "staging")
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    app = find(docs, "Deployment", "rps-app")
    assert pod_spec(app)["containers"][0]["image"] == "rps-app:7"
    assert app["metadata"]["namespace"] == "staging"
    assert [c for c in operator.calls() if c.startswith("docker")] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--tag is required"),
        (("--tag",), "--tag needs a value"),
        (("--tag", "has space"), "--tag 'has space' is not a valid image tag"),
        (("--tag", "1", "--push"), "--push needs --registry"),
        (("--tag", "1", "--namespace", "Not_Valid"), "--namespace 'Not_Valid' is not a valid"),
        (("--tag", "1", "--overlay", "huge"), "--overlay 'huge' is not one of: scale-out single"),
        (("--tag", "1", "--registry", "https://r.example"), "--registry 'https://r.example'"),
        (("--tag", "1", "--bogus"), "unknown argument '--bogus'"),
    ],
)
def test_bad_arguments_are_refused_by_name_before_anything_runs(
    operator: Operator, args: tuple[str, ...], message: str
) -> None:
    result = operator.run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert operator.calls() == []
