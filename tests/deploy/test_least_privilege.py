"""Each client of MinIO gets its own user with only what it needs (SPEC §13), and each pod only
its own credentials; the minio-setup Job converges MinIO to that and is safe to run again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.kube import (
    K8S,
    OVERLAYS,
    Doc,
    container,
    containers,
    env_entry,
    find,
    label,
    pod_spec,
    render,
    workloads,
)

BASE = K8S / "base"
SETUP_SCRIPT = BASE / "minio-setup.sh"
NAME_LABEL = "app.kubernetes.io/name"
READ_ACTIONS = {"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"}
WRITE_ACTIONS = {"s3:PutObject", "s3:DeleteObject"}
CACHE, ARTIFACTS = "rps-models", "rps-mlflow"

# Which Secrets each pod may name: its own credentials; the admin token for those that call or
# check admin endpoints; root and superuser only for the servers and their setup Jobs.
CREDENTIALS = {
    "rps-app": {"rps-admin", "rps-app-credentials"},
    "rps-trainer": {"rps-admin", "rps-pipeline-credentials"},
    "rps-promoter": {"rps-admin", "rps-pipeline-credentials"},
    "rps-persona-gameplay": {"rps-admin"},
    "mlflow": {"rps-mlflow-credentials"},
    "minio": {"rps-minio"},
    "minio-setup": {
        "rps-minio",
        "rps-app-credentials",
        "rps-pipeline-credentials",
        "rps-mlflow-credentials",
    },
    "postgres": {"rps-postgres"},
}
GRANTS_CREDENTIALS = {
    "single-node": {"rps-postgres", "rps-mlflow-credentials"},
    "scale-out": {
        "rps-postgres",
        "rps-mlflow-credentials",
        "rps-app-credentials",
        "rps-pipeline-credentials",
    },
}


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Doc]]:
    name: str = request.param
    return name, render(K8S / "overlays" / name)


def _secrets_named(doc: Doc) -> set[str]:
    names = set()
    for c in containers(pod_spec(doc)):
        for entry in c.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        for source in c.get("envFrom", []):
            if "secretRef" in source:
                names.add(source["secretRef"]["name"])
    for volume in pod_spec(doc).get("volumes", []):
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
    return names


def test_each_pod_gets_only_its_own_credentials(overlay: tuple[str, list[Doc]]) -> None:
    name, docs = overlay
    expected = {**CREDENTIALS, "postgres-grants": GRANTS_CREDENTIALS[name]}
    found = {
        pod_spec_labels(doc)[NAME_LABEL]: _secrets_named(doc)
        for doc in workloads(docs)
        if _secrets_named(doc)
    }
    assert found == expected


def pod_spec_labels(doc: Doc) -> dict[str, str]:
    template = (
        doc["spec"]["jobTemplate"]["spec"]["template"]
        if doc["kind"] == "CronJob"
        else doc["spec"]["template"]
    )
    labels: dict[str, str] = template["metadata"]["labels"]
    return labels


def _permissions(policy: dict[str, Any]) -> dict[str, set[str]]:
    """bucket → the S3 actions a policy allows on the bucket or its objects."""
    allowed: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow", "the policies only allow; nothing to subtract"
        actions = set(statement["Action"])
        assert not any("*" in a for a in actions), f"wildcard action in {statement}"
        for resource in statement["Resource"]:
            bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
            assert "*" not in bucket, f"wildcard bucket in {statement}"
            allowed.setdefault(bucket, set()).update(actions)
    return allowed


def _granted_policy(script: str, role: str) -> str:
    """The policy minio-setup.sh gives the user of ``$<role>_ACCESS_KEY``."""
    prefix = f'grant "${role}_ACCESS_KEY" "${role}_SECRET_KEY" '
    lines = [line for line in script.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, f"minio-setup.sh must grant {role}'s user one policy"
    return lines[0].removeprefix(prefix).strip()


def test_minio_users_can_do_only_what_their_client_needs(overlay: tuple[str, list[Doc]]) -> None:
    """Follow each client's key from its pod to the setup Job, the user it creates and the
    policy it attaches: the app reads the serving cache, the trainer and the promoter write it,
    MLflow writes its artifacts, and none of them touches the other bucket."""
    _, docs = overlay
    job_spec = pod_spec(find(docs, "Job", "minio-setup"))
    mc = container(job_spec, "mc")
    config = next(v for v in job_spec["volumes"] if v["name"] == "config")
    files = find(docs, "ConfigMap", config["configMap"]["name"])["data"]
    # The setup Job's variable that carries each Secret's access key.
    role_of_secret = {}
    for entry in mc["env"]:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref and ref["key"] == "MINIO_ACCESS_KEY" and entry["name"].endswith("_ACCESS_KEY"):
            role_of_secret[ref["name"]] = entry["name"].removesuffix("_ACCESS_KEY")

    def permissions_of(workload: Doc, container_name: str, variable: str) -> dict[str, set[str]]:
        entry = env_entry(container(pod_spec(workload), container_name), variable)
        assert entry is not None, f"{label(workload)} has no {variable}"
        secret = entry["valueFrom"]["secretKeyRef"]["name"]
        assert secret in role_of_secret, f"minio-setup creates no user for {secret}"
        policy = _granted_policy(files["minio-setup.sh"], role_of_secret[secret])
        return _permissions(json.loads(files[f"{policy}.json"]))

    app = permissions_of(find(docs, "Deployment", "rps-app"), "app", "MINIO_ACCESS_KEY")
    assert set(app) == {CACHE}
    assert app[CACHE] <= READ_ACTIONS
    assert "s3:GetObject" in app[CACHE]
    for cronjob, name in [("rps-trainer", "trainer"), ("rps-promoter", "promoter")]:
        pipeline = permissions_of(find(docs, "CronJob", cronjob), name, "MINIO_ACCESS_KEY")
        assert set(pipeline) == {CACHE}, cronjob
        assert pipeline[CACHE] >= WRITE_ACTIONS | READ_ACTIONS, cronjob
    mlflow = permissions_of(find(docs, "Deployment", "mlflow"), "mlflow", "AWS_ACCESS_KEY_ID")
    assert set(mlflow) == {ARTIFACTS}
    assert mlflow[ARTIFACTS] >= WRITE_ACTIONS | READ_ACTIONS


# minio-setup.sh against a stand-in for `mc` that keeps MinIO's state in a JSON file and fails
# where mc fails (attaching an attached policy, detaching one that is not).
_FAKE_MC = r"""
import json, os, sys
state_path, log_path = os.environ["FAKE_MC_STATE"], os.environ["FAKE_MC_LOG"]
with open(state_path) as f:
    state = json.load(f)
args = sys.argv[1:]
with open(log_path, "a") as f:
    f.write(" ".join(args[:3] + [a for a in args[3:] if "secret" not in a]) + "\n")

def fail(message):
    print(f"mc: <ERROR> {message}", file=sys.stderr)
    sys.exit(1)

users, policies, buckets = state["users"], state["policies"], state["buckets"]
if args[:2] == ["alias", "set"]:
    pass
elif args[0] == "mb":
    buckets.setdefault(args[-1].split("/", 1)[1], "unset")
elif args[:3] == ["anonymous", "set", "none"]:
    buckets[args[3].split("/", 1)[1]] = "none"
elif args[:3] == ["admin", "policy", "create"]:
    with open(args[5]) as f:
        policies[args[4]] = json.load(f)
elif args[:3] == ["admin", "user", "add"]:
    users.setdefault(args[4], {"policies": []})["secret"] = args[5]
elif args[:3] == ["admin", "user", "info"]:
    if args[4] not in users:
        fail(f"user {args[4]} does not exist")
    print(f"AccessKey: {args[4]}\nStatus: enabled\n"
          f"PolicyName: {','.join(users[args[4]]['policies'])}\nMemberOf: []")
elif args[:3] == ["admin", "policy", "attach"] or args[:3] == ["admin", "policy", "detach"]:
    policy, user = args[4], users[args[6]]
    if policy not in policies:
        fail(f"policy {policy} does not exist")
    if (policy in user["policies"]) == (args[2] == "attach"):
        fail(f"policy {policy} is already in that state for {args[6]}")
    if args[2] == "attach":
        user["policies"].append(policy)
    else:
        user["policies"].remove(policy)
else:
    fail(f"unexpected command {args}")
with open(state_path, "w") as f:
    json.dump(state, f)
"""


class FakeMinio:
    def __init__(self, root: Path) -> None:
        self.state = root / "state.json"
        self.log = root / "mc.log"
        self.bin = root / "bin"
        self.bin.mkdir()
        mc = self.bin / "mc"
        mc.write_text(f"#!{sys.executable}\n{_FAKE_MC}")
        mc.chmod(0o755)
        self.save(
            {
                "users": {},
                "policies": {},
                "buckets": {},
            }
        )

    def save(self, state: dict[str, Any]) -> None:
        self.state.write_text(json.dumps(state))

    def load(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.state.read_text())
        return loaded

    def setup(self, **keys: str) -> subprocess.CompletedProcess[str]:
        """Run minio-setup.sh as the Job does; the log holds only this run's mc calls."""
        self.log.write_text("")
        env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_MC_STATE": str(self.state),
            "FAKE_MC_LOG": str(self.log),
            "POLICY_DIR": str(BASE),
            "MINIO_URL": "http://minio:9000",
            "BUCKETS": f"{CACHE} {ARTIFACTS}",
            "MINIO_ROOT_USER": "minio-root",
            "MINIO_ROOT_PASSWORD": "root-secret",
            "APP_ACCESS_KEY": "rps-app",
            "APP_SECRET_KEY": "app-secret-1",
            "PIPELINE_ACCESS_KEY": "rps-pipeline",
            "PIPELINE_SECRET_KEY": "pipeline-secret-1",
            "MLFLOW_ACCESS_KEY": "rps-mlflow",
            "MLFLOW_SECRET_KEY": "mlflow-secret-1",
            **keys,
        }
        return subprocess.run(
            ["sh", str(SETUP_SCRIPT)], env=env, capture_output=True, text=True, check=False
        )

    def calls(self, verb: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if f"policy {verb}" in line]


@pytest.fixture
def minio(tmp_path: Path) -> FakeMinio:
    return FakeMinio(tmp_path)


def test_minio_setup_converges_an_earlier_release_and_changes_nothing_when_run_again(
    minio: FakeMinio,
) -> None:
    # An earlier release: one platform user with read/write on both buckets, whose key the
    # operator keeps for the pipeline.
    earlier = minio.load()
    earlier["policies"]["rps-buckets"] = {"Statement": []}
    earlier["users"]["rps-platform"] = {"secret": "old", "policies": ["rps-buckets"]}
    earlier["buckets"] = {CACHE: "none", ARTIFACTS: "none"}
    minio.save(earlier)

    first = minio.setup(PIPELINE_ACCESS_KEY="rps-platform")
    assert first.returncode == 0, first.stderr
    converged = minio.load()
    assert {user: u["policies"] for user, u in converged["users"].items()} == {
        "rps-platform": ["rps-cache-write"],
        "rps-app": ["rps-cache-read"],
        "rps-mlflow": ["rps-artifacts-write"],
    }
    assert minio.calls("detach") == ["admin policy detach rps rps-buckets --user rps-platform"]
    assert converged["buckets"] == {CACHE: "none", ARTIFACTS: "none"}

    again = minio.setup(PIPELINE_ACCESS_KEY="rps-platform")
    assert again.returncode == 0, again.stderr
    assert minio.load() == converged
    assert minio.calls("attach") == minio.calls("detach") == []

    rotated = minio.setup(PIPELINE_ACCESS_KEY="rps-platform", APP_SECRET_KEY="app-secret-2")
    assert rotated.returncode == 0, rotated.stderr
    assert minio.load()["users"]["rps-app"] == {
        "secret": "app-secret-2",
        "policies": ["rps-cache-read"],
    }


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({"MLFLOW_ACCESS_KEY": "rps-app"}, "MLFLOW_ACCESS_KEY"),
        ({"APP_ACCESS_KEY": "minio-root"}, "APP_ACCESS_KEY"),
        ({"PIPELINE_SECRET_KEY": ""}, "PIPELINE_ACCESS_KEY and PIPELINE_SECRET_KEY"),
    ],
)
def test_minio_setup_refuses_shared_or_missing_keys_before_touching_minio(
    minio: FakeMinio, keys: dict[str, str], named: str
) -> None:
    result = minio.setup(**keys)
    assert result.returncode == 2
    assert named in result.stderr
    assert minio.log.read_text() == ""
