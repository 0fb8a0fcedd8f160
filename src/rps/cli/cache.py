"""`rps sync-cache`: mirror the registry's aliased models into the serving cache (SPEC §6.3).

MLflow is imported inside the command, so the CLI's other commands stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from rps.cli.common import console, out, settings_or_exit
from rps.domain.policy import Alias, Family
from rps.settings import mask_url

if TYPE_CHECKING:
    from rps.registry.serving_cache import SyncSummary


def summary_table(summary: SyncSummary) -> Table:
    """family@alias → version, run id, sha256 prefix, and what the sync did with it."""
    uploaded = set(summary.published.uploaded)
    table = Table(title=f"serving cache (generation {summary.published.generation})")
    for column in ("model", "version", "run id", "sha256", "objects"):
        table.add_column(column)
    for family in Family:
        for alias in Alias:
            target = summary.targets.get((family, alias))
            label = f"{family.value}@{alias.value}"
            if target is None:
                table.add_row(label, "—", "—", "—", "no version: fallback")
                continue
            table.add_row(
                label,
                f"v{target.version}",
                target.run_id,
                summary.sha256[(family, alias)][:12],
                "uploaded" if target.run_id in uploaded else "reused",
            )
    return table


def register(app: typer.Typer) -> None:
    @app.command("sync-cache")
    def sync_cache(
        clean: Annotated[
            bool, typer.Option(help="Also delete the objects of runs no alias points to")
        ] = False,
    ) -> None:
        """Mirror the registry's aliased models (3 families × 4 aliases) into the serving cache."""
        from rps.bootstrap.model_sources import build_registry, build_serving_cache
        from rps.registry.serving_cache import CacheError, EmptyRegistry, sync_from_registry

        settings = settings_or_exit()
        try:
            cache = build_serving_cache(settings)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        try:
            summary = sync_from_registry(build_registry(settings), cache, clean=clean)
        except EmptyRegistry as exc:
            console.print(f"[red]nothing to sync: {exc}[/red]")
            raise typer.Exit(1) from None
        except (CacheError, ValueError) as exc:
            console.print(f"[red]sync failed: {exc}[/red]")
            raise typer.Exit(1) from None
        published = summary.published
        out.print(summary_table(summary))
        console.print(f"cache: {mask_url(cache.store.uri)}")
        console.print(
            f"uploaded {len(published.uploaded)} runs, reused {len(published.reused)}, "
            f"removed {len(published.removed)} objects; manifest generation "
            f"{published.generation}{'' if published.changed else ' (unchanged)'}"
        )
        for key in published.removed:
            console.print(f"  removed {key}")
        if summary.empty:
            empty = ", ".join(f"{f.value}@{a.value}" for f, a in summary.empty)
            console.print(f"[yellow]no version behind {empty}: served by the fallback[/yellow]")
