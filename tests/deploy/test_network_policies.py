"""The NetworkPolicies of both overlays allow exactly the flows docs/kubernetes.md lists (SPEC §13).

The rendered policies are evaluated (tests/deploy/network.py) for every pair of pods on every
port of interest: the platform's own pods, the peers the document names outside the namespace
(Ingress controller, Prometheus, cluster DNS), a pod started by hand in the namespace, strangers
in the peers' namespaces and, in another namespace, impostors carrying the platform's labels.
The allowed set must equal the table: a flow the table lists and the policies refuse fails, and
so does one the policies allow and the table does not list.
"""

from __future__ import annotations

import ipaddress

import pytest

from tests.deploy.kube import (
    K8S,
    NAMESPACE,
    OVERLAYS,
    REPO,
    Doc,
    containers,
    find,
    label,
    of_kind,
    pod_spec,
    render,
    workloads,
)
from tests.deploy.network import Flow, Network, Pod, Port, applies_to, markdown_table

DOC = REPO / "docs" / "kubernetes.md"
FLOWS = "## Allowed flows"
PEERS = "## Peers outside the namespace"
PROXIES = "## TRUSTED_PROXIES"
EVERY_POD = "*"
NAME_LABEL = "app.kubernetes.io/name"
# Probed besides the ports the pods and the table name: a rule that opens more than it says
# (no ports, a range) shows up on these.
OTHER_PORTS = (Port(22), Port(443), Port(8080), Port(9001, "UDP"))


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Doc]]:
    name: str = request.param
    return name, render(K8S / "overlays" / name)


def _template_labels(doc: Doc) -> dict[str, str]:
    if doc["kind"] == "CronJob":
        labels: dict[str, str] = doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"][
            "labels"
        ]
        return labels
    template_labels: dict[str, str] = doc["spec"]["template"]["metadata"]["labels"]
    return template_labels


def platform_pods(docs: list[Doc]) -> list[Pod]:
    """One pod per workload, as its template labels it, with its containers' named ports."""
    pods = []
    for doc in workloads(docs):
        labels = _template_labels(doc)
        assert NAME_LABEL in labels, f"{label(doc)}: pods need {NAME_LABEL} for the policies"
        ports = {
            p["name"]: Port(p["containerPort"], p.get("protocol", "TCP"))
            for c in containers(pod_spec(doc))
            for p in c.get("ports", [])
            if "name" in p
        }
        pods.append(Pod.of(labels[NAME_LABEL], NAMESPACE, labels, ports))
    return pods


def _labels(cell: str) -> dict[str, str]:
    pairs = [part.strip().split("=", 1) for part in cell.split(",") if part.strip()]
    assert pairs, f"no labels in {cell!r}"
    assert all(len(p) == 2 for p in pairs), f"labels are written k=v, not {cell!r}"
    return dict(pairs)


def peer_pods(overlay: str) -> list[Pod]:
    """The pods outside the namespace the document names, for this overlay."""
    return [
        Pod.of(row["peer"], row["namespace"], _labels(row["pod labels"]))
        for row in markdown_table(DOC, PEERS)
        if applies_to(row["overlay"], overlay, OVERLAYS)
    ]


def surroundings(platform: list[Pod], peers: list[Pod]) -> list[Pod]:
    """Pods that must get nothing beyond what the table grants every pod of the namespace."""
    stray = [Pod.of("pod started by hand", NAMESPACE, {"run": "debug"})]
    strangers = [
        Pod.of(f"stranger in {ns}", ns, {NAME_LABEL: "stranger", "app": "stranger"})
        for ns in sorted({p.namespace for p in peers} | {"default"})
    ]
    impostors = [
        Pod.of(f"{pod.name} impostor in default", "default", pod.label_map) for pod in platform
    ]
    return stray + strangers + impostors


def expected_flows(overlay: str, known: set[str], in_namespace: list[str]) -> set[Flow]:
    flows = set()
    for row in markdown_table(DOC, FLOWS):
        if not applies_to(row["overlays"], overlay, OVERLAYS):
            continue
        sources = in_namespace if row["from"] == EVERY_POD else [row["from"]]
        for name in [*sources, row["to"]]:
            assert name in known, f"the table names {name!r}, which {overlay} does not run"
        for source in sources:
            for port in row["port"].split(","):
                flows.add(Flow(source, row["to"], str(Port.parse(port))))
    return flows


def _network(overlay: str, docs: list[Doc]) -> tuple[Network, set[Flow], set[Port]]:
    platform = platform_pods(docs)
    peers = peer_pods(overlay)
    pods = platform + peers + surroundings(platform, peers)
    namespace = find(docs, "Namespace", NAMESPACE)
    network = Network(
        of_kind(docs, "NetworkPolicy"),
        pods,
        {NAMESPACE: namespace["metadata"].get("labels", {})},
    )
    in_namespace = [p.name for p in pods if p.namespace == NAMESPACE]
    expected = expected_flows(overlay, {p.name for p in pods}, in_namespace)
    ports = {Port.parse(f.port) for f in expected} | set(OTHER_PORTS)
    ports |= {port for pod in pods for _, port in pod.named_ports}
    return network, expected, ports


def _difference(expected: set[Flow], allowed: set[Flow]) -> dict[str, list[str]]:
    return {
        "allowed by the table, refused by the policies": sorted(map(str, expected - allowed)),
        "allowed by the policies, not in the table": sorted(map(str, allowed - expected)),
    }


def test_policies_allow_exactly_the_flows_of_the_table(overlay: tuple[str, list[Doc]]) -> None:
    name, docs = overlay
    network, expected, ports = _network(name, docs)
    allowed = network.allowed_flows(ports, concerning=NAMESPACE)
    assert _difference(expected, allowed) == {
        "allowed by the table, refused by the policies": [],
        "allowed by the policies, not in the table": [],
    }


def test_the_comparison_reports_a_refused_flow_and_an_extra_one() -> None:
    """The check above is only worth something if a change to the policies shows up in it."""
    docs = render(K8S / "overlays" / "single-node")  # fresh objects: ours to change
    app_policy = find(docs, "NetworkPolicy", "rps-app")
    del app_policy["spec"]["egress"]  # the app can no longer read the serving cache
    find(docs, "NetworkPolicy", "postgres")["spec"]["ingress"].append(
        {"from": [{"namespaceSelector": {}}], "ports": [{"protocol": "TCP", "port": 5432}]}
    )
    network, expected, ports = _network("single-node", docs)
    difference = _difference(expected, network.allowed_flows(ports, concerning=NAMESPACE))
    assert difference["allowed by the table, refused by the policies"] == [
        "rps-app → minio:9000/TCP"
    ]
    extra = difference["allowed by the policies, not in the table"]
    assert "stranger in default → postgres:5432/TCP" in extra
    assert "rps-app → postgres:5432/TCP" not in extra, "its egress is still closed"


def test_every_pod_of_the_namespace_starts_from_deny_all(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    deny = find(docs, "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert {d["metadata"]["namespace"] for d in of_kind(docs, "NetworkPolicy")} == {NAMESPACE}


def test_overlays_trust_forwarded_addresses_only_from_their_pod_network(
    overlay: tuple[str, list[Doc]],
) -> None:
    name, docs = overlay
    config = find(docs, "Deployment", "rps-app")
    env_from = pod_spec(config)["containers"][0]["envFrom"]
    [config_map] = [e["configMapRef"]["name"] for e in env_from if "configMapRef" in e]
    value = find(docs, "ConfigMap", config_map)["data"]["TRUSTED_PROXIES"]
    networks = [ipaddress.ip_network(part.strip()) for part in value.split(",")]
    assert networks, f"{name} trusts no proxy: behind its Ingress every player is one address"
    assert all(n.is_private and n.prefixlen >= 8 for n in networks), value
    documented = {row["overlay"]: row["TRUSTED_PROXIES"] for row in markdown_table(DOC, PROXIES)}
    assert documented[name] == value, "docs/kubernetes.md must say what the overlay sets"
