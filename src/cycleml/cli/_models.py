"""``cycleml models ...``: the model registry from the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cycleml.cli._common import command_group, console, emit_json, format_ms, make_table, state

if TYPE_CHECKING:
    from cycleml.registry import Models, ModelVersion

__all__ = ["models_app"]

models_app = command_group("Register, alias and move models between stages.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _registry(ctx: typer.Context) -> Models:
    from cycleml.registry import Models

    return Models(state(ctx).settings)


def _version_dict(version: ModelVersion) -> dict[str, object]:
    return {**version.__dict__, "aliases": list(version.aliases), "uri": version.uri}


def _metrics_text(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))


@models_app.command("list")
def models_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List registered models with their latest version and aliases."""
    found = _registry(ctx).list()
    if as_json:
        emit_json([{**m.__dict__} for m in found])
        return
    rows = [
        (
            m.name,
            m.latest_version or "",
            ", ".join(f"@{alias}->v{version}" for alias, version in sorted(m.aliases.items())),
            format_ms(m.last_updated_time),
        )
        for m in found
    ]
    console().print(make_table("Registered models", ["name", "latest", "aliases", "updated"], rows))


@models_app.command("show")
def models_show(
    ctx: typer.Context,
    name: str,
    version: Annotated[int | None, typer.Option(help="Show one version and its history.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a model's versions (stage, aliases, metrics), or one version's stage history."""
    from rich.tree import Tree

    registry = _registry(ctx)
    if version is not None:
        found = registry.get_version(name, version)
        history = registry.list_transitions(name, version)
        report = registry.check(name, version)
        if as_json:
            emit_json(
                {
                    **_version_dict(found),
                    "history": [h.__dict__ for h in history],
                    "gates": [c.to_dict() for c in report.checks],
                }
            )
            return
        tree = Tree(f"[bold]{found.uri}[/]  stage={found.current_stage}")
        tree.add(f"source: {found.source}")
        tree.add(f"aliases: {', '.join('@' + a for a in found.aliases) or '-'}")
        tree.add(f"metrics: {_metrics_text(found.metrics) or '-'}")
        gates = tree.add("deploy gates: " + ("pass" if report.passed else "[red]FAIL[/]"))
        for check in report.checks:
            gates.add(("[green]ok[/] " if check.passed else "[red]x[/] ") + check.reason)
        hist = tree.add("stage history")
        for item in history:
            forced = " [yellow](forced)[/]" if item.forced else ""
            hist.add(
                f"{format_ms(item.time)}  {item.from_stage} -> {item.to_stage} by {item.actor}"
                f"{forced}  {item.reason}"
            )
        console().print(tree)
        return
    model = registry.get(name)
    versions = registry.list_versions(name)
    if as_json:
        emit_json({**model.__dict__, "versions": [_version_dict(v) for v in versions]})
        return
    rows = [
        (
            v.version,
            v.current_stage,
            " ".join("@" + a for a in v.aliases),
            v.run_id or "",
            _metrics_text(v.metrics),
            format_ms(v.creation_time),
        )
        for v in versions
    ]
    console().print(
        make_table(
            f"{model.name}",
            ["version", "stage", "aliases", "run", "metrics", "created"],
            rows,
        )
    )


@models_app.command("register")
def models_register(
    ctx: typer.Context,
    model_uri: Annotated[str, typer.Argument(help="runs:/<run_id>/<path>, e.g. .../model")],
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    description: Annotated[str, typer.Option(help="Version description.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Register a run's model as the next version of NAME."""
    from cycleml.models._registering import register_run_model

    version = register_run_model(_registry(ctx), model_uri, name, description=description)
    if as_json:
        emit_json(_version_dict(version))
        return
    console().print(f"Registered [bold]{version.uri}[/] from {model_uri}.")


@models_app.command("alias")
def models_alias(
    ctx: typer.Context,
    name: str,
    alias: str,
    version: Annotated[int | None, typer.Argument(help="Version; omit with --delete.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
) -> None:
    """Point NAME@ALIAS at VERSION (or remove it with --delete)."""
    registry = _registry(ctx)
    if delete:
        registry.delete_alias(name, alias)
        console().print(f"Removed alias @{alias} of {name}.")
        return
    if version is None:
        from cycleml.errors import InvalidInput

        raise InvalidInput(
            "models alias needs a VERSION (or --delete).",
            hint=f"For example `cycleml models alias {name} {alias} 3`.",
        )
    found = registry.set_alias(name, version, alias)
    console().print(f"models:/{name}@{alias} -> version {found.version}.")


VersionOption = Annotated[
    int | None, typer.Option("--version", help="The version's, instead of the model's.")
]


def _what(name: str, version: int | None) -> str:
    return f"models:/{name}/{version}" if version is not None else f"model {name}"


@models_app.command("tag")
def models_tag(
    ctx: typer.Context, name: str, key: str, value: str, version: VersionOption = None
) -> None:
    """Set tag KEY of model NAME (or of one version) to VALUE."""
    registry = _registry(ctx)
    if version is None:
        registry.set_tag(name, key, value)
    else:
        registry.set_version_tag(name, version, key, value)
    console().print(f"Tagged {_what(name, version)}: {key}={value}.", highlight=False)


@models_app.command("untag")
def models_untag(ctx: typer.Context, name: str, key: str, version: VersionOption = None) -> None:
    """Remove tag KEY of model NAME (or of one version)."""
    registry = _registry(ctx)
    if version is None:
        registry.delete_tag(name, key)
    else:
        registry.delete_version_tag(name, version, key)
    console().print(f"Removed tag {key} of {_what(name, version)}.", highlight=False)


@models_app.command("update")
def models_update(
    ctx: typer.Context,
    name: str,
    description: Annotated[str, typer.Option(help="The new description.")],
    version: VersionOption = None,
) -> None:
    """Change the description of model NAME (or of one version)."""
    registry = _registry(ctx)
    if version is None:
        registry.update(name, description=description)
    else:
        registry.update_version(name, version, description=description)
    console().print(f"Updated the description of {_what(name, version)}.", highlight=False)


@models_app.command("rename")
def models_rename(ctx: typer.Context, name: str, new_name: str) -> None:
    """Rename model NAME to NEW_NAME; its versions, tags, aliases and history move along."""
    renamed = _registry(ctx).rename(name, new_name)
    console().print(
        f"Renamed model {name} to [bold]{renamed.name}[/] "
        f"(latest version: {renamed.latest_version or 'none'}).",
        highlight=False,
    )


@models_app.command("delete")
def models_delete(ctx: typer.Context, name: str, version: VersionOption = None) -> None:
    """Delete model NAME and its versions, or one version with --version.

    Lineage and the audit log keep naming what was deleted, and a deleted version's number is
    never used again.
    """
    registry = _registry(ctx)
    if version is None:
        registry.delete(name)
    else:
        registry.delete_version(name, version)
    console().print(f"Deleted {_what(name, version)}.", highlight=False)


ToOption = Annotated[str, typer.Option("--to", help="Staging, Production, Archived or None.")]
ReasonOption = Annotated[str, typer.Option(help="Why; kept in the stage history.")]
ForceFlag = Annotated[
    bool, typer.Option("--force", help="Override failing gates (recorded in the audit log).")
]
ArchiveFlag = Annotated[bool, typer.Option(help="Archive other versions in the target stage.")]


@models_app.command("transition")
def models_transition(
    ctx: typer.Context,
    name: str,
    version: int,
    to: ToOption = "Production",
    reason: ReasonOption = "",
    force: ForceFlag = False,
    archive_existing: ArchiveFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Move a version to a stage; Staging and Production must pass the spec's deploy gates.

    With --force a version whose gates fail moves anyway: the command names the gates that
    were overridden, and the audit log records the override.
    """
    from cycleml.registry import GATED_STAGES

    registry = _registry(ctx)
    before = registry.check(name, version) if force else None
    moved = registry.transition(
        name, version, to, reason=reason, force=force, archive_existing=archive_existing
    )
    gated = moved.current_stage in {stage.value for stage in GATED_STAGES}
    overridden = before.failures if before is not None and gated else []
    if as_json:
        emit_json({**_version_dict(moved), "overridden_gates": [f.to_dict() for f in overridden]})
        return
    if overridden:
        from rich.markup import escape

        reasons = escape("; ".join(f.reason for f in overridden))
        console().print(
            f"[yellow]Deploy gates overridden (--force):[/] {len(overridden)} failed: {reasons}. "
            "The override is recorded in the audit log.",
            highlight=False,
        )
    console().print(f"{moved.uri} is now in stage [bold]{moved.current_stage}[/].")


@models_app.command("promote", hidden=True)
def models_promote(
    ctx: typer.Context,
    name: str,
    version: int,
    to: ToOption = "Production",
    reason: ReasonOption = "",
    force: ForceFlag = False,
    archive_existing: ArchiveFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Deprecated: use `cycleml models transition` (the same command, removed after one release)."""
    typer.echo(
        "Note: `cycleml models promote` is deprecated and will be removed in the next release; "
        "use `cycleml models transition`.",
        err=True,
    )
    models_transition(
        ctx,
        name,
        version,
        to=to,
        reason=reason,
        force=force,
        archive_existing=archive_existing,
        as_json=as_json,
    )
