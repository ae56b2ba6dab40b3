"""``cycleml init``, ``lineage``, ``audit`` and ``demo``.

The store and the lifecycle (the demo trains models) are imported inside each command.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cycleml.cli._common import console, emit_json, format_ms, make_table, parse_since, state
from cycleml.errors import InvalidInput
from cycleml.ids import is_id

if TYPE_CHECKING:
    from rich.tree import Tree

    from cycleml.store import LineageEdge

__all__ = ["audit", "demo", "init", "lineage"]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def init(
    directory: Annotated[Path, typer.Argument(help="Project folder (created if missing).")] = Path(
        "."
    ),
    name: Annotated[str | None, typer.Option(help="Project name; default: folder name.")] = None,
    task: Annotated[str, typer.Option(help="binary, multiclass or regression.")] = "binary",
    force: Annotated[bool, typer.Option(help="Overwrite an existing cycleml.yaml.")] = False,
) -> None:
    """Write a commented cycleml.yaml and the .cycleml/ state folder."""
    from cycleml.spec import init_project

    path = init_project(directory, name=name, task=task, force=force)
    console().print(f"Wrote [bold]{path}[/] and {path.parent / '.cycleml'}/.")
    console().print(
        "Edit the problem and metrics sections, then track runs with cycleml.start_run()."
    )


def _node_ref(text: str) -> tuple[str, str]:
    """``runs:/<id>``, ``models:/name/3`` (``@alias``), ``<kind>:<id>`` or a bare run id."""
    from cycleml.store import ModelUri, RunUri, parse_uri

    if text.startswith(("runs:/", "models:/")):
        parsed = parse_uri(text)
        if isinstance(parsed, RunUri):
            return "run", parsed.run_id
        assert isinstance(parsed, ModelUri)
        return "model_version", ""  # resolved by the caller (needs the store)
    if is_id(text):
        return "run", text
    kind, sep, ident = text.partition(":")
    if sep and kind and ident and "/" not in kind:
        return kind, ident
    raise InvalidInput(
        f"Invalid lineage reference {text!r}.",
        hint="Use runs:/<run_id>, models:/<name>/<version>, models:/<name>@<alias>, "
        "a run id, or <kind>:<id> such as experiment:<id>.",
    )


def lineage(
    ctx: typer.Context,
    uri: Annotated[
        str,
        typer.Argument(help="runs:/<id>, models:/<name>/<v>, models:/<name>@<alias>, <kind>:<id>"),
    ],
    direction: Annotated[str, typer.Option(help="upstream, downstream or both.")] = "both",
    depth: Annotated[int, typer.Option(help="How many hops to follow.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Walk the lineage graph from an entity: where it came from and what came of it."""
    from rich.tree import Tree

    from cycleml.store._rest_journal import open_journal

    settings = state(ctx).settings
    kind, ident = _node_ref(uri)
    if kind == "model_version" and not ident:
        from cycleml.registry import Models

        with closing(Models(settings)) as models:  # SQL, or REST for an http(s) URI
            version = models.repository.resolve_model_uri(uri)
        ident = f"{version.name}/{version.version}"
    with closing(open_journal(settings)) as journal:  # through the server, for http(s)
        graph = journal.walk_lineage(kind, ident, direction=direction, max_depth=depth)  # type: ignore[arg-type]
    if as_json:
        emit_json(
            {
                "root": {"kind": kind, "id": ident},
                "edges": [edge.__dict__ for edge in graph.edges],
            }
        )
        return
    out = console()
    root = (kind, ident)
    tree = Tree(f"[bold]{kind}[/] {ident}")
    for way, label in (("upstream", "came from"), ("downstream", "led to")):
        if direction not in (way, "both"):
            continue
        branch = Tree(f"[cyan]{label}[/]")
        _grow(branch, root, list(graph.edges), upstream=way == "upstream", seen={root})
        tree.add(branch if branch.children else f"[cyan]{label}[/] [dim](nothing)[/]")
    out.print(tree)


def _grow(
    branch: Tree,
    node: tuple[str, str],
    edges: list[LineageEdge],
    *,
    upstream: bool,
    seen: set[tuple[str, str]],
) -> None:
    for edge in edges:
        src, dst = (edge.src_kind, edge.src_id), (edge.dst_kind, edge.dst_id)
        here, there = (dst, src) if upstream else (src, dst)
        if here != node or there in seen:
            continue
        seen.add(there)
        child = branch.add(
            f"{edge.relation} {'<-' if upstream else '->'} [bold]{there[0]}[/] {there[1]}"
        )
        _grow(child, there, edges, upstream=upstream, seen=seen)


def audit(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="A duration back (2h, 7d) or an ISO date.")
    ] = None,
    entity: Annotated[
        str | None, typer.Option(help="Only this entity kind (run, model ...).")
    ] = None,
    entity_id: Annotated[str | None, typer.Option(help="Only this entity id.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. run.create.")] = None,
    limit: Annotated[int, typer.Option(help="How many rows at most (the newest).")] = 200,
    oldest: Annotated[bool, typer.Option(help="Take the oldest rows instead.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show the append-only audit log, oldest first: who did what, when, to which entity."""
    from cycleml.store._rest_journal import open_journal

    since_ms = parse_since(since) if since else None
    with closing(open_journal(state(ctx).settings)) as journal:  # the server's, for http(s)
        rows = journal.list_audit(
            since_ms=since_ms,
            entity_kind=entity,
            entity_id=entity_id,
            action=action,
            limit=limit,
            latest=not oldest,
        )
    if as_json:
        emit_json([row.__dict__ for row in rows])
        return
    console().print(
        make_table(
            f"Audit log ({len(rows)})",
            ["time (UTC)", "actor", "action", "entity", "payload"],
            [
                (
                    format_ms(r.time),
                    r.actor,
                    r.action,
                    f"{r.entity_kind}:{r.entity_id}",
                    _short(r.payload),
                )
                for r in rows
            ],
        )
    )


def _short(payload: dict[str, object]) -> str:
    import json

    text = json.dumps(payload, default=str)
    return text if len(text) <= 100 else text[:97] + "..."


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where the demo project goes.")] = Path(
        "cycleml-demo"
    ),
    fresh: Annotated[bool, typer.Option(help="Delete the folder first if it exists.")] = False,
) -> None:
    """Run the lifecycle demo on a real, bundled dataset (breast cancer, scikit-learn)."""
    from cycleml.lifecycle import run_demo
    from cycleml.server._demo import team_server_step

    run_demo(directory, fresh=fresh, console=console(), more_steps=[team_server_step])
