"""``cycleml data ...``: dataset versions from the terminal."""

from __future__ import annotations

from typing import Annotated

import pyarrow as pa
import typer
from rich.tree import Tree

from cycleml.cli._common import console, emit_json, format_ms, make_table, state
from cycleml.data import Datasets

__all__ = ["data_app"]

data_app = typer.Typer(help="Ingest, inspect, validate and profile datasets.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _datasets(ctx: typer.Context) -> Datasets:
    return Datasets(state(ctx).settings)


def _size(num: int) -> str:
    size = float(num)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@data_app.command("list")
def data_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List datasets with their latest version."""
    found = _datasets(ctx).list()
    if as_json:
        emit_json([v.to_dict() for v in found])
        return
    rows = [
        (
            v.name,
            v.version,
            f"{v.row_count:,}",
            len(v.schema),
            _size(v.bytes),
            " ".join("@" + t for t in v.tags),
            format_ms(v.creation_time),
        )
        for v in found
    ]
    console().print(
        make_table(
            "Datasets", ["name", "latest", "rows", "columns", "size", "tags", "created"], rows
        )
    )


@data_app.command("show")
def data_show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="A name (all versions) or datasets:/name/N, @tag.")],
    as_json: JsonFlag = False,
) -> None:
    """Show a dataset's versions, or one version's schema, source and lineage."""
    datasets = _datasets(ctx)
    if not ref.startswith("datasets:/"):
        versions = datasets.versions(ref)
        if as_json:
            emit_json([v.to_dict() for v in versions])
            return
        rows = [
            (
                v.version,
                f"{v.row_count:,}",
                _size(v.bytes),
                v.parent_version or "",
                " ".join("@" + t for t in v.tags),
                v.digest[:16],
                v.user_id,
                format_ms(v.creation_time),
            )
            for v in versions
        ]
        console().print(
            make_table(
                ref, ["version", "rows", "size", "parent", "tags", "digest", "by", "created"], rows
            )
        )
        return
    version = datasets.get(ref)
    if as_json:
        emit_json(version.to_dict())
        return
    tree = Tree(f"[bold]{version.uri}[/]  {version.row_count:,} rows, {_size(version.bytes)}")
    tree.add(f"digest: blake3:{version.digest}")
    tree.add(f"source: {version.source}")
    if version.parent_version:
        tree.add(f"parent: datasets:/{version.name}/{version.parent_version}")
    if version.watermark_column:
        tree.add(f"watermark: {version.watermark_column} = {version.watermark_value}")
    tree.add(f"tags: {', '.join('@' + t for t in version.tags) or '-'}")
    schema = tree.add(f"schema ({len(version.schema)} columns)")
    for column in version.schema:
        schema.add(f"{column['name']}: {column['type']}")
    parts = tree.add(f"parts ({len(version.parts)})")
    for part in version.parts:
        parts.add(f"{part.row_count:,} rows, {_size(part.bytes)}  blake3:{part.digest[:12]}")
    console().print(tree)


@data_app.command("head")
def data_head(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="datasets:/name/N, datasets:/name@tag or a name.")],
    rows: Annotated[int, typer.Option("-n", "--rows", help="How many rows.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Print the first rows of a dataset version."""
    reader = _datasets(ctx).load(ref, output="reader")
    first = []
    taken = 0
    for batch in reader:
        if taken >= rows:
            break
        first.append(batch.slice(0, rows - taken))
        taken += first[-1].num_rows
    table = pa.Table.from_batches(first, schema=reader.schema)
    if as_json:
        emit_json(table.to_pylist())
        return
    console().print(
        make_table(None, table.schema.names, [list(row.values()) for row in table.to_pylist()])
    )


@data_app.command("tag")
def data_tag(
    ctx: typer.Context,
    name: str,
    version: int,
    tag: str,
) -> None:
    """Point datasets:/NAME@TAG at VERSION (moving the tag if it pointed elsewhere)."""
    tagged = _datasets(ctx).tag(name, version, tag)
    console().print(f"datasets:/{name}@{tag} -> version {tagged.version}.")
