"""``cycleml data ...``: dataset versions from the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cycleml.cli._common import (
    PlotlyJsOption,
    command_group,
    console,
    emit_json,
    format_ms,
    make_table,
    plotlyjs_mode,
    state,
)
from cycleml.errors import InvalidInput
from cycleml.spec import load_project

if TYPE_CHECKING:
    from cycleml.data import Datasets

__all__ = ["data_app"]

data_app = command_group("Ingest, inspect, validate and profile datasets.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _datasets(ctx: typer.Context) -> Datasets:
    from cycleml.data import Datasets

    return Datasets(state(ctx).settings)


def _size(num: int) -> str:
    size = float(num)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@data_app.command("ingest")
def data_ingest(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    source: Annotated[
        str | None,
        typer.Argument(help="File, glob, folder or URI; default: sources.NAME in cycleml.yaml."),
    ] = None,
    mode: Annotated[str | None, typer.Option(help="replace or append.")] = None,
    watermark: Annotated[str | None, typer.Option(help="Column marking new rows.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Tag the version (repeatable).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Ingest a source as a new immutable version of NAME (identical rows: the same version)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from cycleml.data import Datasets
    from cycleml.data._sources import source_from_spec

    cli_state = state(ctx)
    datasets = Datasets(cli_state.settings)
    if source is None:
        spec = datasets.spec  # cycleml.yaml of the settings' project folder, if any
        declared = spec.sources.get(name) if spec is not None else None
        if declared is None:
            raise InvalidInput(
                f"No source given for dataset {name!r}, and cycleml.yaml declares none.",
                hint=f"Pass a file, e.g. `cycleml data ingest {name} 'data/*.csv'`, or add "
                f"sources.{name} to cycleml.yaml.",
            )
        reader: Any = source_from_spec(declared, base_dir=cli_state.settings.home)
        mode = mode or declared.mode
        watermark = watermark or declared.watermark
    else:
        reader = source
    if mode not in (None, "replace", "append"):
        raise InvalidInput(f"Invalid --mode {mode!r}: expected replace or append.")
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]ingest[/] {task.description}"),
        TextColumn("{task.completed:,.0f} rows"),
        TimeElapsedColumn(),
        console=console(),
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task(name, total=None)
        result = datasets.ingest(
            name,
            reader,
            mode="append" if mode == "append" else "replace",
            watermark=watermark,
            aliases=tag or (),
            progress=lambda rows: bar.advance(task, rows),
        )  # validation.NAME of cycleml.yaml applies: Datasets reads the project's spec
    version = result.version
    if as_json:
        emit_json(
            {"created": result.created, "rows_read": result.rows_read, "version": version.to_dict()}
        )
        return
    if result.report is not None and not result.report["passed"]:
        failed = [r["rule"] for r in result.report["results"] if not r["passed"]]
        console().print(f"[yellow]Validation failed for {', '.join(failed)}.[/]")
    if result.quarantine is not None:
        console().print(
            f"Quarantined {result.quarantine.row_count:,} rows as {result.quarantine.uri}."
        )
    verb = "Created" if result.created else "Unchanged:"
    console().print(
        f"{verb} [bold]{version.uri}[/] ({version.row_count:,} rows, {_size(version.bytes)}; "
        f"{result.rows_read:,} rows read)."
        + ("" if result.created else " The same rows were already stored.")
    )


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
    """Show a dataset's versions, or one version's schema, source, parent and parts."""
    from rich.tree import Tree

    datasets = _datasets(ctx)
    if not ref.startswith("datasets:/"):
        versions = datasets.list_versions(ref)
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
    import pyarrow as pa

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
    tagged = _datasets(ctx).set_alias(name, version, tag)
    console().print(f"datasets:/{name}@{tag} -> version {tagged.version}.")


def _rules_for(ctx: typer.Context, name: str, rules_file: Path | None) -> Any:
    if rules_file is not None:
        import yaml

        from cycleml.spec import parse_rules

        try:
            loaded = yaml.safe_load(rules_file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput(f"Cannot read rules from {str(rules_file)!r}: {exc}") from exc
        items = loaded.get("rules", loaded) if isinstance(loaded, dict) else loaded
        if not isinstance(items, list):
            raise InvalidInput(
                f"{str(rules_file)!r} holds no list of rules.",
                hint="Write `rules:` followed by a list such as `- {rule: not_null, column: id}`.",
            )
        return parse_rules(items)
    spec = load_project(home=state(ctx).settings.home)[1]
    declared = spec.validation.get(name) if spec is not None else None
    if declared is None:
        raise InvalidInput(
            f"No validation rules for dataset {name!r}.",
            hint=f"Add validation.{name}.rules to cycleml.yaml, or pass --rules FILE.",
        )
    return declared.rules


@data_app.command("validate")
def data_validate(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="datasets:/name/N, datasets:/name@tag or a name.")],
    rules_file: Annotated[
        Path | None, typer.Option("--rules", help="YAML file of rules (default: cycleml.yaml).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check a dataset version against validation rules; exit 1 when a rule fails."""
    datasets = _datasets(ctx)
    version = datasets.get(ref)
    rules = _rules_for(ctx, version.name, rules_file)
    report = datasets.validate(version, rules)
    if as_json:
        emit_json({"dataset": version.uri, **report.to_dict()})
    else:
        console().print(report.summary())
    if not report.passed:
        raise typer.Exit(1)


@data_app.command("profile")
def data_profile(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="datasets:/name/N, datasets:/name@tag or a name.")],
    out: Annotated[Path | None, typer.Option(help="HTML report path.")] = None,
    target: Annotated[str | None, typer.Option(help="Target column (default: the spec's).")] = None,
    plotlyjs: PlotlyJsOption = "inline",
    as_json: JsonFlag = False,
) -> None:
    """Profile a dataset version: statistics, alerts, correlations, and an HTML report."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from cycleml.data import profile
    from cycleml.reports import render_profile_html, write_html

    datasets = _datasets(ctx)
    version = datasets.get(ref)
    spec = load_project(home=state(ctx).settings.home)[1]
    problem = spec.problem if spec is not None else None
    columns = {f["name"] for f in version.schema}
    if target is None and problem is not None and problem.target in columns:
        target = problem.target
    with Progress(
        SpinnerColumn(),
        TextColumn(f"profiling {version.uri}"),
        TimeElapsedColumn(),
        console=console(),
        transient=True,
        disable=as_json,
    ):
        found = profile(
            datasets.list_part_paths(version),
            target=target,
            task=problem.task if problem is not None and target else None,
        )
    path = out or (
        state(ctx).settings.state_dir / "reports" / f"{version.name}-v{version.version}.html"
    )
    html = render_profile_html(
        found.to_dict(), title=f"Profile of {version.uri}", include_plotlyjs=plotlyjs_mode(plotlyjs)
    )
    write_html(html, path)
    if as_json:
        emit_json({"dataset": version.uri, "report": str(path), "profile": found.to_dict()})
        return
    data = found.to_dict()
    console().print(
        f"Profiled {version.uri}: {len(data['columns'])} columns, "
        f"{len(data['alerts'])} alerts. Report: [bold]{path}[/]"
    )
    for alert in data["alerts"][:10]:
        console().print(f"  [yellow]{alert['kind']}[/] {alert['message']}")


@data_app.command("diff")
def data_diff(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="The earlier version.")],
    new: Annotated[str, typer.Argument(help="The later version.")],
    out: Annotated[Path | None, typer.Option(help="HTML report path.")] = None,
    plotlyjs: PlotlyJsOption = "inline",
    as_json: JsonFlag = False,
) -> None:
    """Compare two dataset versions: schema and statistic differences side by side."""
    from cycleml.reports import render_comparison_html, write_html

    datasets = _datasets(ctx)
    before, after = datasets.get(old), datasets.get(new)
    comparison = datasets.compare(before, after).to_dict()
    path = out or (
        state(ctx).settings.state_dir
        / "reports"
        / f"{after.name}-v{before.version}-v{after.version}.html"
    )
    title = f"{before.uri} vs {after.uri}"
    html = render_comparison_html(comparison, title=title, include_plotlyjs=plotlyjs_mode(plotlyjs))
    write_html(html, path)
    if as_json:
        emit_json(
            {"old": before.uri, "new": after.uri, "report": str(path), "comparison": comparison}
        )
        return
    console().print(f"Compared {before.uri} with {after.uri}. Report: [bold]{path}[/]")
