"""What a set of NetworkPolicies allows, by the rules of the Kubernetes API.

A connection from pod A to port P of pod B passes when A's side lets it out and B's side lets it
in. A side is open unless some policy of the pod's own namespace selects the pod with that
direction in its ``policyTypes``; then one rule of one of those policies must match the peer and
the port. Peers are matched by podSelector (in the policy's namespace), namespaceSelector, or
both (pods so labelled in namespaces so labelled). Policies of other namespaces than the
platform's are not modelled: those sides count as open. ``ipBlock`` peers are not evaluated at
all (the manifests use none); meeting one is a failure, so a test never passes by ignoring it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Doc = dict[str, Any]
Labels = Mapping[str, str]
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Port:
    number: int
    protocol: str = "TCP"

    def __str__(self) -> str:
        return f"{self.number}/{self.protocol}"

    @classmethod
    def parse(cls, text: str) -> Port:
        match = re.fullmatch(r"(\d+)/(TCP|UDP|SCTP)", text.strip())
        assert match, f"a port is written like 8000/TCP, not {text!r}"
        return cls(int(match.group(1)), match.group(2))


@dataclass(frozen=True)
class Pod:
    """A pod as policies see it: a name (for messages), its namespace, labels and named ports."""

    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    named_ports: tuple[tuple[str, Port], ...] = field(default=())

    @classmethod
    def of(
        cls,
        name: str,
        namespace: str,
        labels: Labels,
        named_ports: Mapping[str, Port] | None = None,
    ) -> Pod:
        ports = tuple((named_ports or {}).items())
        return cls(name, namespace, tuple(sorted(labels.items())), ports)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class Flow:
    source: str
    destination: str
    port: str

    def __str__(self) -> str:
        return f"{self.source} → {self.destination}:{self.port}"


def selects(selector: Doc | None, labels: Labels) -> bool:
    """A label selector (matchLabels, matchExpressions) against a set of labels; {} is all."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise AssertionError(f"unknown selector operator {operator!r}")
    return True


def policy_types(policy: Doc) -> list[str]:
    spec = policy["spec"]
    if "policyTypes" in spec:
        types: list[str] = spec["policyTypes"]
        return types
    # The API's default: Ingress always, Egress when there are egress rules.
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


class Network:
    """The pods of a cluster (the platform's and some around it) and the policies that apply."""

    def __init__(
        self,
        policies: list[Doc],
        pods: Iterable[Pod],
        namespace_labels: Mapping[str, Labels],
    ) -> None:
        self.policies = policies
        self.pods = list(pods)
        names = [p.name for p in self.pods]
        assert len(names) == len(set(names)), f"pod names must be unique: {names}"
        self._namespace_labels = {
            ns: {NAMESPACE_NAME_LABEL: ns, **labels} for ns, labels in namespace_labels.items()
        }
        for pod in self.pods:
            self._namespace_labels.setdefault(pod.namespace, {NAMESPACE_NAME_LABEL: pod.namespace})

    def _peer_matches(self, peer: Doc, policy_namespace: str, pod: Pod) -> bool:
        if "ipBlock" in peer:
            raise AssertionError("an ipBlock peer: extend tests/deploy/network.py to evaluate it")
        if "namespaceSelector" in peer:
            if not selects(peer["namespaceSelector"], self._namespace_labels[pod.namespace]):
                return False
        elif pod.namespace != policy_namespace:
            return False
        return "podSelector" not in peer or selects(peer["podSelector"], pod.label_map)

    @staticmethod
    def _port_matches(rule_ports: list[Doc] | None, port: Port, destination: Pod) -> bool:
        if not rule_ports:
            return True
        for entry in rule_ports:
            if entry.get("protocol", "TCP") != port.protocol:
                continue
            wanted: int | str | None = entry.get("port")
            if wanted is None:
                return True
            if isinstance(wanted, str):
                if dict(destination.named_ports).get(wanted) == port:
                    return True
                continue
            last: int = entry.get("endPort", wanted)
            if wanted <= port.number <= last:
                return True
        return False

    def _side_allows(self, pod: Pod, peer: Pod, port: Port, direction: str) -> bool:
        """Whether ``pod``'s own policies let the connection with ``peer`` out (Egress) or in
        (Ingress); the port is always the destination's."""
        rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        destination = pod if direction == "Ingress" else peer
        applying = [
            p
            for p in self.policies
            if p["metadata"]["namespace"] == pod.namespace
            and selects(p["spec"]["podSelector"], pod.label_map)
            and direction in policy_types(p)
        ]
        if not applying:
            return True
        for policy in applying:
            for rule in policy["spec"].get(rules_key) or []:
                peers = rule.get(peers_key)
                namespace = policy["metadata"]["namespace"]
                if peers and not any(self._peer_matches(x, namespace, peer) for x in peers):
                    continue
                if self._port_matches(rule.get("ports"), port, destination):
                    return True
        return False

    def allows(self, source: Pod, destination: Pod, port: Port) -> bool:
        return self._side_allows(source, destination, port, "Egress") and self._side_allows(
            destination, source, port, "Ingress"
        )

    def allowed_flows(self, ports: Iterable[Port], concerning: str) -> set[Flow]:
        """Every flow between two different pods, at least one of them in namespace
        ``concerning``, on any of ``ports``, that the policies allow."""
        ports = sorted(set(ports), key=lambda p: (p.number, p.protocol))
        found = set()
        for source in self.pods:
            for destination in self.pods:
                if source is destination or concerning not in (
                    source.namespace,
                    destination.namespace,
                ):
                    continue
                for port in ports:
                    if self.allows(source, destination, port):
                        found.add(Flow(source.name, destination.name, str(port)))
        return found


# The tables of docs/kubernetes.md.


def markdown_table(path: Path, heading: str) -> list[dict[str, str]]:
    """The first table after ``heading`` in a Markdown file, as dicts keyed by the header row
    (cells stripped of backticks)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert heading in lines, f"{path.name} has no heading {heading!r}"
    rows: list[list[str]] = []
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("|"):
            rows.append(
                [cell.strip().replace("`", "") for cell in line.strip().strip("|").split("|")]
            )
        elif rows or line.startswith("#"):
            break
    assert len(rows) > 2, f"no table under {heading!r} in {path.name}"
    header, rule, *body = rows
    assert all(set(cell) <= set("-: ") for cell in rule), f"malformed table under {heading!r}"
    return [dict(zip(header, row, strict=True)) for row in body]


def applies_to(overlays_cell: str, overlay: str, known: Iterable[str]) -> bool:
    cell = overlays_cell.strip()
    assert cell == "both" or cell in known, f"unknown overlay column value {cell!r}"
    return cell in ("both", overlay)
