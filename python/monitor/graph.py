"""``python -m monitor.graph [--execution ARN]``: draw the state machines as SVG under reports/.

Without ``--execution`` each definition of ``asl/`` is drawn (``reports/workflow/<key>.svg``).
With it, the definition that execution ran (as deployed) is drawn and every state is coloured by
what the execution did there, read from ``GetExecutionHistory``: succeeded, retried, caught (its
error went to a ``Catch``), failed, running, aborted (in progress when the execution was
stopped), or not reached. The picture is the project's
counterpart of a console screenshot of a working Step Function.

The SVG is written by this module (no graphviz): a layered top-down layout (longest-path layers,
long edges routed through their own lanes, barycentre ordering), Map states drawn as containers
holding their item processor.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from monitor import definitions
from settings import CliError, get_logger, repo_root, run_cli

log = get_logger("monitor.graph")

OUTPUT_DIR = repo_root() / "reports" / "workflow"

FONT = "font-family='Helvetica, Arial, sans-serif'"
CHAR_W = 7.0  # average glyph width at 12 px, for sizing boxes
LAYER_GAP = 56
NODE_GAP = 36
MARGIN = 24
MAP_PAD = 18
MAP_HEADER = 30

# Fill, stroke of each state type when no execution is shown.
TYPE_STYLE = {
    "Task": ("#e7f0fd", "#3867d6"),
    "Choice": ("#fff4e0", "#d9822b"),
    "Pass": ("#f1f3f5", "#868e96"),
    "Wait": ("#f1f3f5", "#868e96"),
    "Fail": ("#fde8e8", "#c92a2a"),
    "Succeed": ("#e6f4ea", "#2b8a3e"),
    "Map": ("#fbfbfd", "#5c5f66"),
    "Parallel": ("#fbfbfd", "#5c5f66"),
}
# Fill, stroke, legend text of each execution status, worst first.
STATUS_STYLE = {
    "failed": ("#ffc9c9", "#c92a2a", "failed"),
    "caught": ("#ffd8a8", "#e8590c", "caught (went to Catch)"),
    "aborted": ("#e5dbff", "#6741d9", "aborted (execution stopped)"),
    "running": ("#a5d8ff", "#1971c2", "running"),
    "retried": ("#d8f5a2", "#5c940d", "succeeded after retries"),
    "succeeded": ("#b2f2bb", "#2b8a3e", "succeeded"),
    "not reached": ("#f1f3f5", "#adb5bd", "not reached"),
}
EDGE_STYLE = {
    "next": ("#495057", ""),
    "choice": ("#495057", ""),
    "default": ("#495057", "6,4"),
    "catch": ("#e8590c", "4,3"),
}
FAILURE_EVENTS = {
    "TaskFailed",
    "TaskTimedOut",
    "TaskStartFailed",
    "TaskSubmitFailed",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "LambdaFunctionStartFailed",
    "LambdaFunctionScheduleFailed",
    "MapStateFailed",
    "ParallelStateFailed",
}
SUCCESS_EVENTS = {"TaskSucceeded", "LambdaFunctionSucceeded", "MapStateSucceeded"}
# The longest ARN Step Functions takes (its Arn shape: 1-256 characters).
MAX_ARN_CHARS = 256


class ExecutionNotFound(CliError):
    """The execution ARN is unknown to Step Functions (or not readable with these credentials)."""


class StepFunctionsUnavailable(CliError):
    """Step Functions could not be reached to read the execution."""


class InvalidDefinition(CliError):
    """A definition cannot be drawn: no StartAt or States, or a transition to no state."""


class OutputNotWritable(CliError):
    """An SVG cannot be written where ``--output-dir`` (or reports/workflow/) points."""


# ---------------------------------------------------------------------------------------------
# Execution history -> status of each state


@dataclass
class StateRecord:
    """What one execution did in one state, over all its visits (Map iterations included)."""

    visits: Counter = field(default_factory=Counter)

    @property
    def status(self) -> str:
        for status in STATUS_STYLE:
            if self.visits[status]:
                return status
        return "not reached"

    def summary(self) -> str:
        return ", ".join(
            f"{status} {self.visits[status]}"
            for status in reversed(STATUS_STYLE)
            if self.visits[status]
        )


def _entered_type(outcome: str) -> str:
    """The ``...StateEntered`` event type of the states that an outcome event is about."""
    for prefix in ("Map", "Parallel"):
        if outcome.startswith(prefix + "State"):
            return prefix + "StateEntered"
    return "TaskStateEntered"  # Task..., LambdaFunction...


def state_statuses(events: list[dict], execution_status: str) -> dict[str, StateRecord]:
    """Per state name, how its visits ended, from ``GetExecutionHistory`` events.

    Events of concurrent Map iterations interleave. An event belongs to the innermost visit
    still open along its ``previousEventId`` chain of the state it is about: a task's events to
    the Task state that scheduled it, ``MapStateFailed`` to the Map. A Map's outcome is looked
    for by type, not by nearness: when an iteration fails, the state where it failed never
    exits, and that open visit (a Fail or Task state) lies on the chain before the Map's.
    """
    by_id = {event["id"]: event for event in events}
    visits: dict[int, dict[str, Any]] = {}  # StateEntered event id -> visit

    def open_visit(
        event_id: int, name: str | None = None, entered: str | None = None
    ) -> dict[str, Any] | None:
        current = by_id.get(event_id)
        while current is not None:
            visit = visits.get(current["id"])
            if (
                visit is not None
                and not visit["exited"]
                and name in (None, visit["name"])
                and entered in (None, visit["type"])
            ):
                return visit
            current = by_id.get(current.get("previousEventId", 0))
        return None

    for event in sorted(events, key=lambda e: e["id"]):
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            visits[event["id"]] = {"name": name, "type": kind, "outcomes": [], "exited": False}
            continue
        if kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            visit = open_visit(event.get("previousEventId", 0), name)
            if visit is not None:
                visit["exited"] = True
        elif kind in FAILURE_EVENTS or kind in SUCCESS_EVENTS:
            visit = open_visit(event.get("previousEventId", 0), entered=_entered_type(kind))
            if visit is not None:
                visit["outcomes"].append("failure" if kind in FAILURE_EVENTS else "success")
    records: dict[str, StateRecord] = defaultdict(StateRecord)
    for visit in visits.values():
        outcomes = visit["outcomes"]
        if visit["type"] == "FailStateEntered":
            status = "failed"
        elif visit["exited"]:
            if outcomes and outcomes[-1] == "failure":
                status = "caught"
            elif "failure" in outcomes:
                status = "retried"
            else:
                status = "succeeded"
        elif execution_status == "RUNNING":
            status = "running"
        elif execution_status == "ABORTED":  # stopped (StopExecution) while in this state
            status = "aborted"
        else:
            status = "failed"
        records[visit["name"]].visits[status] += 1
    return dict(records)


def read_execution(arn: str) -> tuple[dict, dict, dict[str, StateRecord]]:
    """(execution description, deployed definition, state statuses) of execution ``arn``."""
    if len(arn) > MAX_ARN_CHARS:  # AWS answers ValidationException, not ExecutionDoesNotExist
        raise ExecutionNotFound(
            f"{arn[:80]}...: {len(arn)} characters, more than an execution ARN has"
            f" ({MAX_ARN_CHARS} at most)"
        )
    client = boto3.client("stepfunctions")
    try:
        execution = client.describe_execution(executionArn=arn)
        # The definition this execution ran, even if the state machine changed since.
        machine = client.describe_state_machine_for_execution(executionArn=arn)
        events: list[dict] = []
        for page in client.get_paginator("get_execution_history").paginate(executionArn=arn):
            events.extend(page["events"])
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in ("ExecutionDoesNotExist", "InvalidArn", "StateMachineDoesNotExist"):
            raise ExecutionNotFound(
                f"{arn}: {err.response['Error'].get('Message', code)}"
            ) from None
        raise StepFunctionsUnavailable(f"{code}: {err}") from None
    except BotoCoreError as err:
        raise StepFunctionsUnavailable(str(err)) from None
    definition = json.loads(machine["definition"])
    return execution, definition, state_statuses(events, execution["status"])


# ---------------------------------------------------------------------------------------------
# Layout


@dataclass
class Node:
    name: str
    kind: str  # a state Type, or "start", "end", "lane" (a bend point of a long edge)
    width: float
    height: float
    state: dict = field(default_factory=dict)
    inner: "Layout | None" = None
    layer: int = 0
    x: float = 0.0  # centre
    y: float = 0.0  # top


@dataclass
class Edge:
    source: str
    target: str
    kind: str  # next, choice, default, catch
    label: str = ""
    route: list[str] = field(default_factory=list)  # lane nodes between source and target
    exit_dx: float = 0.0  # where on the source's bottom it leaves, from the centre
    entry_dx: float = 0.0  # where on the target's top it arrives, from the centre


@dataclass
class Layout:
    nodes: dict[str, Node]
    edges: list[Edge]
    width: float
    height: float
    bands: list[tuple[float, float]]  # (top, bottom) of each layer


def check_definition(definition: Any, source: str) -> None:
    """Raise ``InvalidDefinition`` unless ``definition`` has the structure drawing it reads.

    Each ``Next``, ``Default`` and ``Choices``/``Catch`` target must be a state of the same
    ``States`` (a Map's item processor is a scope of its own); ``source`` names the definition.
    """

    def check(block: Any, where: str) -> None:
        states = block.get("States") if isinstance(block, dict) else None
        if not isinstance(states, dict) or not states:
            raise InvalidDefinition(f"{source}: {where} has no States object")
        start_at = block.get("StartAt")
        if not (isinstance(start_at, str) and start_at in states):
            raise InvalidDefinition(
                f"{source}: StartAt {start_at!r} of {where} is not one of its states"
            )
        for name, state in states.items():
            if not isinstance(state, dict) or not isinstance(state.get("Type"), str):
                raise InvalidDefinition(f"{source}: state {name!r} is not an object with a Type")
            targets = [("Next", state.get("Next")), ("Default", state.get("Default"))]
            for field in ("Choices", "Catch"):
                rules = state.get(field, [])
                if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
                    raise InvalidDefinition(
                        f"{source}: {field} of state {name!r} is not a list of objects"
                    )
                targets += [(f"a {field} rule's Next", rule.get("Next")) for rule in rules]
            for label, target in targets:
                if (label in ("Next", "Default") and not target) or (
                    isinstance(target, str) and target in states
                ):
                    continue
                raise InvalidDefinition(
                    f"{source}: {label} of state {name!r} is {target!r}, not a state of {where}"
                )
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if state["Type"] == "Map" and processor:
                check(processor, f"the item processor of {name!r}")

    check(definition, "the definition")


def describe_rule(rule: dict) -> str:
    """A short human reading of a Choice rule, for its edge label."""
    if "And" in rule:
        return " and ".join(describe_rule(r) for r in rule["And"])
    if "Or" in rule:
        return " or ".join(describe_rule(r) for r in rule["Or"])
    if "Not" in rule:
        return "not " + describe_rule(rule["Not"])
    variable = str(rule.get("Variable", "?")).removeprefix("$.").removeprefix("$$.")
    for operator, value in rule.items():
        if operator in ("Variable", "Next", "Comment"):
            continue
        if operator == "IsPresent":
            return f"{variable} {'present' if value else 'absent'}"
        if operator.startswith("Is"):
            return f"{variable} {'is' if value else 'is not'} {operator[2:].lower()}"
        return f"{variable} {operator} {json.dumps(value)}"
    return "?"


def _shorten(text: str, limit: int = 44) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _subtitle(state: dict) -> str:
    resource = state.get("Resource", "")
    retry = " + retry" if state.get("Retry") else ""
    if resource.startswith("arn:aws:states:::"):
        return resource.removeprefix("arn:aws:states:::") + retry
    if ":function:" in resource:
        return "lambda" + retry
    if state.get("Type") == "Map" and "MaxConcurrency" in state:
        return f"Map, MaxConcurrency {state['MaxConcurrency']}"
    return state.get("Type", "")


def _text_width(*lines: str) -> float:
    return max(len(line) for line in lines) * CHAR_W


def _make_node(name: str, state: dict) -> Node:
    kind = state.get("Type", "Task")
    processor = state.get("ItemProcessor") or state.get("Iterator")
    if kind == "Map" and processor:
        inner = layout(processor["States"], processor["StartAt"])
        width = max(inner.width + 2 * MAP_PAD, _text_width(name, _subtitle(state)) + 40)
        return Node(name, kind, width, inner.height + MAP_HEADER + MAP_PAD, state, inner)
    text = _text_width(name, _subtitle(state))
    if kind == "Choice":
        return Node(name, kind, text + 70, 62, state)
    return Node(name, kind, max(150.0, text + 28), 46, state)


def _edges(states: dict, start_at: str) -> list[Edge]:
    edges = [Edge("(start)", start_at, "next")]
    for name, state in states.items():
        if state.get("Next"):
            edges.append(Edge(name, state["Next"], "next"))
        if state.get("End") or state.get("Type") == "Succeed":
            edges.append(Edge(name, "(end)", "next"))
        for rule in state.get("Choices", []):
            edges.append(Edge(name, rule["Next"], "choice", _shorten(describe_rule(rule))))
        if state.get("Default"):
            edges.append(Edge(name, state["Default"], "default", "default"))
        for catcher in state.get("Catch", []):
            label = "catch " + ", ".join(catcher.get("ErrorEquals", []))
            edges.append(Edge(name, catcher["Next"], "catch", _shorten(label)))
    return edges


def _layers(nodes: dict[str, Node], edges: list[Edge], start: str) -> None:
    """Longest-path layering over the edges that do not close a cycle."""
    successors: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        successors[edge.source].append(edge.target)
    order: list[str] = []
    on_stack: set[str] = set()
    seen: set[str] = set()
    back: set[tuple[str, str]] = set()

    def visit(name: str) -> None:
        seen.add(name)
        on_stack.add(name)
        for target in successors[name]:
            if target in on_stack:
                back.add((name, target))
            elif target not in seen:
                visit(target)
        on_stack.discard(name)
        order.append(name)

    visit(start)
    for name in nodes:
        if name not in seen:
            visit(name)
    for name in reversed(order):  # topological order of the forward edges
        for target in successors[name]:
            if (name, target) not in back:
                nodes[target].layer = max(nodes[target].layer, nodes[name].layer + 1)


def _order(nodes: dict[str, Node], edges: list[Edge]) -> list[list[str]]:
    """Nodes per layer, ordered by a few barycentre sweeps to keep edges from crossing."""
    depth = max(node.layer for node in nodes.values()) + 1
    rows: list[list[str]] = [[] for _ in range(depth)]
    for name, node in nodes.items():  # insertion order = definition order: a stable start
        rows[node.layer].append(name)
    up: dict[str, list[str]] = defaultdict(list)
    down: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        chain = [edge.source, *edge.route, edge.target]
        for a, b in zip(chain, chain[1:]):
            if nodes[a].layer < nodes[b].layer:
                down[a].append(b)
                up[b].append(a)
    for sweep in range(7):  # ends on a downward sweep: children follow their parents
        downward = sweep % 2 == 0
        indices = range(1, depth) if downward else range(depth - 2, -1, -1)
        for i in indices:
            reference = rows[i - 1] if downward else rows[i + 1]
            position = {name: k for k, name in enumerate(reference)}
            current = {name: k for k, name in enumerate(rows[i])}
            neighbours = up if downward else down
            rows[i].sort(key=lambda name: _barycentre(neighbours[name], position, current[name]))
    return rows


def _barycentre(linked: list[str], position: dict[str, int], fallback: int) -> float:
    known = [position[name] for name in linked if name in position]
    return sum(known) / len(known) if known else float(fallback)


def layout(states: dict, start_at: str) -> Layout:
    nodes: dict[str, Node] = {"(start)": Node("(start)", "start", 18, 18)}
    for name, state in states.items():
        nodes[name] = _make_node(name, state)
    edges = _edges(states, start_at)
    if any(edge.target == "(end)" for edge in edges):
        nodes["(end)"] = Node("(end)", "end", 22, 22)
    _layers(nodes, edges, "(start)")
    # A long edge bends through one lane node per layer it crosses, so it keeps clear of states.
    for number, edge in enumerate(edges):
        source, target = nodes[edge.source], nodes[edge.target]
        for layer in range(source.layer + 1, target.layer):
            lane = Node(f"(lane {number}.{layer})", "lane", 14 if edge.label else 8, 1, layer=layer)
            nodes[lane.name] = lane
            edge.route.append(lane.name)
    rows = _order(nodes, edges)
    # Vertical: each layer as tall as its tallest node; lanes run through the whole layer.
    y = 0.0
    bands = []
    for row in rows:
        height = max((nodes[n].height for n in row if nodes[n].kind != "lane"), default=1.0)
        for name in row:
            node = nodes[name]
            if node.kind == "lane":
                node.y, node.height = y, height
            else:
                node.y = y + (height - node.height) / 2
        bands.append((y, y + height))
        y += height + LAYER_GAP
    # Horizontal: rows centred on the widest one, then nudged towards their neighbours.
    widths = [sum(nodes[n].width for n in row) + NODE_GAP * (len(row) - 1) for row in rows]
    total = max(widths)
    for row, width in zip(rows, widths):
        x = (total - width) / 2
        for name in row:
            nodes[name].x = x + nodes[name].width / 2
            x += nodes[name].width + NODE_GAP
    _straighten(nodes, edges, rows, total)
    left = min(n.x - n.width / 2 for n in nodes.values())
    for node in nodes.values():
        node.x -= left
    right = max(n.x + n.width / 2 for n in nodes.values())
    _spread_anchors(nodes, edges)
    return Layout(nodes, edges, right, y - LAYER_GAP, bands)


def _spread_anchors(nodes: dict[str, Node], edges: list[Edge]) -> None:
    """Edges leaving (or entering) one node start (or end) side by side, ordered by direction."""
    leaving: dict[str, list[tuple[float, Edge]]] = defaultdict(list)
    entering: dict[str, list[tuple[float, Edge]]] = defaultdict(list)
    for edge in edges:
        chain = [edge.source, *edge.route, edge.target]
        leaving[edge.source].append((nodes[chain[1]].x, edge))
        entering[edge.target].append((nodes[chain[-2]].x, edge))
    for groups, attribute in ((leaving, "exit_dx"), (entering, "entry_dx")):
        for name, group in groups.items():
            node = nodes[name]
            step = min(22.0, node.width / (len(group) + 1))
            group.sort(key=lambda item: item[0])
            for i, (_, edge) in enumerate(group):
                setattr(edge, attribute, (i - (len(group) - 1) / 2) * step)


def _straighten(
    nodes: dict[str, Node], edges: list[Edge], rows: list[list[str]], total: float
) -> None:
    """Move each node towards the mean x of its upper neighbours, keeping order and gaps."""
    above: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        chain = [edge.source, *edge.route, edge.target]
        for a, b in zip(chain, chain[1:]):
            if nodes[a].layer < nodes[b].layer:
                above[b].append(a)
    for row in rows[1:]:
        wanted = []
        for name in row:
            linked = above[name]
            wanted.append(
                sum(nodes[n].x for n in linked) / len(linked) if linked else nodes[name].x
            )
        # Left to right: no overlap with the previous node.
        previous_right = float("-inf")
        for name, x in zip(row, wanted):
            node = nodes[name]
            node.x = max(x, previous_right + NODE_GAP + node.width / 2)
            previous_right = node.x + node.width / 2
        # Right to left: pull back what was pushed past the widest row.
        next_left = max(total, previous_right)
        for name in reversed(row):
            node = nodes[name]
            node.x = (
                min(node.x, next_left - NODE_GAP - node.width / 2)
                if next_left < previous_right
                else node.x
            )
            next_left = node.x - node.width / 2


# ---------------------------------------------------------------------------------------------
# SVG


def _style(node: Node, statuses: dict[str, StateRecord] | None) -> tuple[str, str, str]:
    """Fill, stroke, text colour."""
    if statuses is None:
        fill, stroke = TYPE_STYLE.get(node.kind, TYPE_STYLE["Task"])
        return fill, stroke, "#212529"
    record = statuses.get(node.name)
    status = record.status if record else "not reached"
    fill, stroke, _ = STATUS_STYLE[status]
    return fill, stroke, "#868e96" if status == "not reached" else "#212529"


def _anchor(node: Node, dx: float, bottom: bool) -> tuple[float, float]:
    """The point ``dx`` from the centre on the node's bottom (or top) outline."""
    if node.kind == "Choice":  # a diamond: the outline rises towards its side corners
        half_w, half_h = node.width / 2, node.height / 2
        inset = half_h * min(abs(dx), half_w - 1) / half_w
        return node.x + dx, (node.y + node.height - inset) if bottom else (node.y + inset)
    if node.kind in ("start", "end"):
        dx = 0.0
    return node.x + dx, node.y + node.height if bottom else node.y


def _draw_node(out: list[str], node: Node, ox: float, oy: float, statuses) -> None:
    x, y = ox + node.x - node.width / 2, oy + node.y
    w, h = node.width, node.height
    cx = ox + node.x
    if node.kind == "lane":
        return
    if node.kind == "start":
        out.append(f"<circle cx='{cx:.1f}' cy='{y + h / 2:.1f}' r='9' fill='#343a40'/>")
        return
    if node.kind == "end":
        out.append(
            f"<circle cx='{cx:.1f}' cy='{y + h / 2:.1f}' r='10' fill='none' stroke='#343a40' "
            f"stroke-width='2'/><circle cx='{cx:.1f}' cy='{y + h / 2:.1f}' r='6' fill='#343a40'/>"
        )
        return
    fill, stroke, ink = _style(node, statuses)
    title = html.escape(node.name)
    record = statuses.get(node.name) if statuses else None
    tooltip = f"<title>{title}: {html.escape(record.summary())}</title>" if record else ""
    out.append(f"<g class='state' data-state='{title}'>{tooltip}")
    if node.kind == "Choice":
        points = f"{cx:.1f},{y:.1f} {x + w:.1f},{y + h / 2:.1f} {cx:.1f},{y + h:.1f} {x:.1f},{y + h / 2:.1f}"
        out.append(
            f"<polygon points='{points}' fill='{fill}' stroke='{stroke}' stroke-width='1.5'/>"
        )
    elif node.inner is not None:
        out.append(
            f"<rect x='{x:.1f}' y='{y:.1f}' width='{w:.1f}' height='{h:.1f}' rx='10' fill='{fill}' "
            f"stroke='{stroke}' stroke-width='1.5' stroke-dasharray='8,4'/>"
        )
    else:
        radius = 20 if node.kind in ("Fail", "Succeed") else 8
        out.append(
            f"<rect x='{x:.1f}' y='{y:.1f}' width='{w:.1f}' height='{h:.1f}' rx='{radius}' "
            f"fill='{fill}' stroke='{stroke}' stroke-width='1.5'/>"
        )
    subtitle = html.escape(_subtitle(node.state))
    if record and record.summary():
        subtitle = html.escape(record.summary())
    text_y = y + 20 if node.inner is not None else y + h / 2 - 3
    out.append(
        f"<text x='{cx:.1f}' y='{text_y:.1f}' text-anchor='middle' {FONT} font-size='12' "
        f"font-weight='bold' fill='{ink}'>{title}</text>"
        f"<text x='{cx:.1f}' y='{text_y + 14:.1f}' text-anchor='middle' {FONT} font-size='10' "
        f"fill='{ink}'>{subtitle}</text></g>"
    )
    if node.inner is not None:
        _draw_layout(out, node.inner, x + MAP_PAD, y + MAP_HEADER + 4, statuses)


def edge_path(layout_: Layout, edge: Edge) -> tuple[str, tuple[float, float]]:
    """SVG path data of ``edge`` and where its label goes.

    Inside a layer the edge runs straight down; it bends only in the gaps between layers, so
    it never crosses a state of a tall layer (a Map container) sideways.
    """
    nodes = layout_.nodes
    source, target = nodes[edge.source], nodes[edge.target]
    if target.layer <= source.layer:  # closes a cycle: out on the right, back in from the right
        sx, sy = source.x + source.width / 2, source.y + source.height / 2
        tx, ty = target.x + target.width / 2, target.y + target.height / 2
        reach = max(sx, tx) + 40
        path = f"M{sx:.1f},{sy:.1f} C{reach:.1f},{sy:.1f} {reach:.1f},{ty:.1f} {tx:.1f},{ty:.1f}"
        return path, (reach - 10, (sy + ty) / 2)
    x, y = _anchor(source, edge.exit_dx, bottom=True)
    path = f"M{x:.1f},{y:.1f}"
    y = layout_.bands[source.layer][1]
    path += f" L{x:.1f},{y:.1f}"
    label = None
    for hop in [*(nodes[name] for name in edge.route), target]:
        top = layout_.bands[hop.layer][0]
        hx = hop.x + (edge.entry_dx if hop is target else 0.0)
        middle = (y + top) / 2
        path += f" C{x:.1f},{middle:.1f} {hx:.1f},{middle:.1f} {hx:.1f},{top:.1f}"
        if label is None:
            label = ((x + hx) / 2, middle)
        x = hx
        y = _anchor(target, edge.entry_dx, bottom=False)[1] if hop is target else hop.y + hop.height
        path += f" L{x:.1f},{y:.1f}"
    return path, label or (x, y)


def _draw_edge(out: list[str], layout_: Layout, edge: Edge, ox: float, oy: float) -> None:
    path, (lx, ly) = edge_path(layout_, edge)
    colour, dash = EDGE_STYLE[edge.kind]
    dash_attr = f" stroke-dasharray='{dash}'" if dash else ""
    marker = "arrow-catch" if edge.kind == "catch" else "arrow"
    out.append(
        f"<path transform='translate({ox:.1f},{oy:.1f})' d='{path}' fill='none' "
        f"stroke='{colour}' stroke-width='1.3'{dash_attr} marker-end='url(#{marker})'/>"
    )
    if edge.label:
        width = len(edge.label) * 5.6 + 8
        lx = min(max(lx, width / 2), layout_.width - width / 2)  # keep it inside the picture
        lx, ly = lx + ox, ly + oy
        out.append(
            f"<rect x='{lx - width / 2:.1f}' y='{ly - 8:.1f}' width='{width:.1f}' height='14' "
            "rx='3' fill='white' fill-opacity='0.9'/>"
            f"<text x='{lx:.1f}' y='{ly + 3:.1f}' text-anchor='middle' {FONT} font-size='9.5' "
            f"fill='{colour}'>{html.escape(edge.label)}</text>"
        )


def _draw_layout(out: list[str], layout_: Layout, ox: float, oy: float, statuses) -> None:
    for edge in layout_.edges:
        _draw_edge(out, layout_, edge, ox, oy)
    for node in layout_.nodes.values():
        _draw_node(out, node, ox, oy, statuses)


def render_svg(
    definition: dict,
    title: str,
    statuses: dict[str, StateRecord] | None = None,
    subtitle: str = "",
) -> str:
    """The whole picture: title, graph, and a legend of the statuses when they are shown."""
    graph = layout(definition["States"], definition["StartAt"])
    legend_w = 190 if statuses is not None else 0
    head = 56
    width = graph.width + 2 * MARGIN + legend_w
    height = max(graph.height + head + MARGIN, 60 + 18 * len(STATUS_STYLE) + head)
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{height:.0f}' "
        f"viewBox='0 0 {width:.0f} {height:.0f}'>",
        "<defs>"
        "<marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' "
        "markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' "
        "fill='#495057'/></marker>"
        "<marker id='arrow-catch' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' "
        "markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' "
        "fill='#e8590c'/></marker></defs>",
        f"<rect width='100%' height='100%' fill='white'/>",
        f"<text x='{MARGIN}' y='26' {FONT} font-size='16' font-weight='bold' fill='#212529'>"
        f"{html.escape(title)}</text>",
        f"<text x='{MARGIN}' y='44' {FONT} font-size='11' fill='#495057'>"
        f"{html.escape(subtitle)}</text>",
    ]
    _draw_layout(out, graph, MARGIN, head, statuses)
    if statuses is not None:
        lx = width - legend_w + 10
        out.append(
            f"<text x='{lx}' y='{head + 4}' {FONT} font-size='11' font-weight='bold'>States</text>"
        )
        for i, (fill, stroke, text) in enumerate(STATUS_STYLE.values()):
            ly = head + 14 + 18 * i
            out.append(
                f"<rect x='{lx}' y='{ly}' width='14' height='12' rx='3' fill='{fill}' "
                f"stroke='{stroke}'/><text x='{lx + 20}' y='{ly + 10}' {FONT} font-size='10.5'>"
                f"{html.escape(text)}</text>"
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_atomically(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as err:
        raise _not_writable(path, err) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _not_writable(path, err) from None
        raise


def _not_writable(path: Path, err: OSError) -> OutputNotWritable:
    return OutputNotWritable(
        f"cannot write {path} ({err.strerror or err}): choose another --output-dir"
    )


def draw_definitions(output_dir: Path) -> list[Path]:
    """One SVG per asl/ definition, template variables shown by name.

    All are drawn before any is written: one that cannot be drawn leaves every file as it was.
    """
    pictures = {}
    for key, filename in definitions.DEFINITIONS.items():
        definition = definitions.render_placeholders(definitions.ASL_DIR / filename)
        check_definition(definition, f"asl/{filename}")
        pictures[output_dir / f"{key}.svg"] = render_svg(
            definition, key, subtitle=f"asl/{filename}"
        )
    for path, svg in pictures.items():
        write_atomically(path, svg)
    return list(pictures)


def draw_execution(arn: str, output_dir: Path) -> Path:
    execution, definition, statuses = read_execution(arn)
    machine = execution["stateMachineArn"].rsplit(":", 1)[-1]
    name = execution.get("name") or arn.rsplit(":", 1)[-1]
    subtitle = f"execution {name}: {execution['status']}"
    if execution.get("error"):
        subtitle += f" ({execution['error']})"
    path = output_dir / f"{machine}.{name}.svg"
    check_definition(definition, execution["stateMachineArn"])
    write_atomically(path, render_svg(definition, machine, statuses, subtitle))
    log.info("drawn", extra={"fields": {"execution": arn, "states": len(statuses)}})
    return path


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execution", help="execution ARN: draw its state machine, coloured")
    parser.add_argument("--output-dir", type=Path, default=OUTPUT_DIR, help="where to write")
    args = parser.parse_args(None if argv is None else list(argv))
    if args.execution:
        paths = [draw_execution(args.execution, args.output_dir)]
    else:
        paths = draw_definitions(args.output_dir)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    run_cli(main)
