"""`rps train`, `rps train-aliases`, `rps train-scheduled`: thin wrappers over rps.training.

Training imports torch, xgboost and MLflow, so everything heavy is imported inside the commands
(`rps serve` stays light) and training always runs in the CLI's process, never in the web's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from rps.cli.common import console, out, settings_or_exit, split_list
from rps.domain.policy import Alias, Family, parse_aliases, parse_families

if TYPE_CHECKING:
    from rps.bootstrap.training import TrainingContext
    from rps.settings import Settings
    from rps.training.configs import ConfigFile, PlannedModel
    from rps.training.runner import ModelOutcome

# Tables stay readable when the output goes to a file or a CI log (rich assumes 80 columns there).


class RichTrainingProgress:
    """One bar for all models and one for the current model's steps."""

    def __init__(self, progress: Progress, total_models: int) -> None:
        self._progress = progress
        self._models = progress.add_task("models", total=total_models)
        self._steps: TaskID | None = None

    def model_started(self, planned: PlannedModel, steps: Sequence[str]) -> None:
        if self._steps is not None:
            self._progress.remove_task(self._steps)
        self._steps = self._progress.add_task(f"  {planned.key}", total=len(steps))

    def step_done(self, planned: PlannedModel, step: str) -> None:
        if self._steps is not None:
            self._progress.update(self._steps, advance=1, description=f"  {planned.key}: {step}")

    def model_finished(self, outcome: ModelOutcome) -> None:
        self._progress.advance(self._models)
        status = "error" if outcome.error else outcome.reason.split(":")[0]
        version = f" → v{outcome.version}" if outcome.version else ""
        alias = f" @{outcome.alias.value}" if outcome.alias else ""
        self._progress.console.print(
            f"{outcome.planned.key}: {status}{version}{alias} ({outcome.seconds:.1f} s)"
        )


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _fmt(metrics: dict[str, float], key: str) -> str:
    value = metrics.get(key)
    return "—" if value is None else f"{value:.3f}"


def _points(difference: float | None) -> str:
    """A paired win-rate difference in percentage points (training part of the gym)."""
    return "—" if difference is None else f"{difference * 100:+.1f} pts"


def outcomes_table(outcomes: Sequence[ModelOutcome]) -> Table:
    table = Table(title="trained models")
    for column in (
        "model",
        "status",
        "version",
        "alias",
        "test acc",
        "val acc (prod)",
        "cv mean ± std",
        "val log-loss (T)",
        "gym win (train / holdout)",
        "vs model-free",
        "vs greedy",
        "onnx Δ",
        "seconds",
    ):
        table.add_column(column)
    for o in outcomes:
        m = o.trained.metrics if o.trained else {}
        cv = "—"
        if "cv_mean_acc" in m:
            cv = f"{m['cv_mean_acc']:.3f} ± {m.get('cv_std_acc', 0.0):.3f}"
        status = "error" if o.error else ("registered" if o.registered else "rejected")
        if o.below_gate:
            status = "[yellow]below_gate[/yellow]"
        log_loss = "—"
        if "val_log_loss" in m:
            log_loss = f"{m['val_log_loss']:.3f} ({m.get('temperature', 1.0):.2f})"
        gym = "—"
        if "gym_training_win_rate" in m:
            gym = f"{m['gym_training_win_rate']:.1%} / {m.get('gym_holdout_win_rate', 0.0):.1%}"
        table.add_row(
            o.planned.key,
            status,
            o.version or "—",
            o.alias.value if o.alias else "—",
            _fmt(m, "test_acc_holdout"),
            _fmt(m, "val_acc_production"),
            cv,
            log_loss,
            gym,
            _points(m.get("gym_training_vs_model_free_layer")),
            _points(m.get("gym_training_vs_value_greedy")),
            f"{m['onnx_max_abs_diff']:.1e}" if "onnx_max_abs_diff" in m else "—",
            f"{o.seconds:.1f}",
        )
    return table


def registry_table(context: TrainingContext) -> tuple[Table, list[str]]:
    """family × alias → version; and the aliases that point nowhere (served by fallback)."""
    table = Table(title="registry aliases")
    table.add_column("family")
    for alias in Alias:
        table.add_column(alias.value)
    empty = []
    for family in Family:
        cells = []
        for alias in Alias:
            target = context.registry.alias_target(family, alias)
            if target is None:
                empty.append(f"{family.value}@{alias.value}")
                cells.append("[yellow]empty[/yellow]")
            else:
                cells.append(f"v{target.version}")
        table.add_row(family.value, *cells)
    return table, empty


def _report(context: TrainingContext, outcomes: Sequence[ModelOutcome]) -> int:
    out.print(outcomes_table(outcomes))
    table, empty = registry_table(context)
    out.print(table)
    if empty:
        console.print(
            f"[yellow]{len(empty)} alias(es) point at no model; their games are played by the "
            f"decision layer without a model: {', '.join(empty)}[/yellow]"
        )
    for o in outcomes:
        if o.below_gate:
            console.print(
                f"[yellow]{o.planned.key} v{o.version} is below the gate: {o.reason}[/yellow]"
            )
    failures = [o for o in outcomes if o.error]
    for o in failures:
        console.print(f"[red]{o.planned.key} failed: {o.error}[/red]")
    return 1 if failures else 0


def load_training_config(settings: Settings, explicit: Path | None = None) -> ConfigFile:
    """The hyperparameter configs: ``--config``, else TRAINING_CONFIG_PATH, else the file shipped
    inside the package. Says which file it read; a named file that is missing is a ConfigError
    that names where the path came from."""
    from rps.training.configs import ConfigError, load_config

    if explicit is not None:
        path, origin = explicit, "--config"
    elif settings.TRAINING_CONFIG_PATH is not None:
        path, origin = settings.TRAINING_CONFIG_PATH, "TRAINING_CONFIG_PATH"
    else:
        path, origin = settings.training_config_path, "shipped with the package"
    if not path.is_file():
        problem = {
            "--config": f"--config {path}: no such file",
            "TRAINING_CONFIG_PATH": (
                f"TRAINING_CONFIG_PATH={path}: no such file (unset it to use the configs "
                "shipped with the package)"
            ),
        }.get(origin, f"the configs shipped with the package are missing: {path} (reinstall it)")
        raise ConfigError(problem)
    config = load_config(path)
    console.print(f"hyperparameter configs: {path} ({origin})")
    return config


def _context() -> TrainingContext:
    from rps.bootstrap.training import build_training

    return build_training(settings_or_exit())


def _families(text: str | None) -> list[Family] | None:
    try:
        return parse_families([text or ""]) or None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _aliases(text: str | None) -> list[Alias] | None:
    try:
        return parse_aliases([text or ""]) or None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _plan_table(planned: Sequence[PlannedModel]) -> Table:
    table = Table(title="training plan")
    for column in ("model type", "config", "alias", "hyperparameters", "overrides"):
        table.add_column(column, overflow="fold")
    for p in planned:
        table.add_row(
            p.family.value,
            p.config_id,
            p.promote_alias.value if p.promote_alias else "—",
            json.dumps(p.hyperparameters.model_dump(mode="json"), separators=(",", ":")),
            json.dumps(p.overrides) if p.overrides else "",
        )
    return table


SkipCacheSync = Annotated[
    bool, typer.Option(help="Do not publish moved aliases to the serving cache")
]
SkipAppReload = Annotated[
    bool, typer.Option(help="Do not ask the app (APP_URL) to reload afterwards")
]


def publish_moves(
    settings: Settings, outcomes: Sequence[ModelOutcome], skip_sync: bool, skip_reload: bool
) -> None:
    """After training moved aliases: mirror the registry into the serving cache and ask the app
    to reload, so the new versions serve (and promotion can replay them). Failures are
    reported; the trained models stay registered either way."""
    if not any(o.alias is not None for o in outcomes) or skip_sync:
        return
    from rps.bootstrap.model_sources import build_registry
    from rps.bootstrap.promotion import RegistryPublisher

    publisher = RegistryPublisher(settings, build_registry(settings))
    steps = [("cache sync", publisher.sync_cache)]
    if not skip_reload:
        steps.append(("app reload", publisher.reload_app))
    for step, action in steps:
        try:
            console.print(f"{step}: {action()}")
        except Exception as exc:
            console.print(f"[yellow]{step} failed: {exc}[/yellow]")
            return


ReplaceLive = Annotated[
    bool,
    typer.Option(
        "--replace-live",
        help="Point a non-empty Production or B straight at its new version (recorded in the "
        "promotion ledger like a manual move) instead of making it a challenger",
    ),
]


def _print_placements(outcomes: list[ModelOutcome]) -> None:
    """What training did to each alias, and why (SPEC §5)."""
    for outcome in outcomes:
        if outcome.version is None:
            continue
        where = f"→ {outcome.alias.value}" if outcome.alias else "→ no alias"
        console.print(f"{outcome.planned.key}: v{outcome.version} {where} ({outcome.reason})")


def record_live_replacements(
    context: TrainingContext, outcomes: list[ModelOutcome], by: str
) -> None:
    """A --replace-live move of Production or B is a manual move: one ledger row per family
    (the new version has no stored predictions yet, so no parity replay is possible; the
    gate's gym figures stand in for it)."""
    from rps.persistence.promotion_repository import (
        LedgerEvent,
        PromotionRepository,
        new_event_id,
    )
    from rps.persistence.tables import utcnow

    ledger = PromotionRepository(context.database)
    for outcome in outcomes:
        if outcome.alias not in (Alias.PRODUCTION, Alias.B) or outcome.version is None:
            continue
        if outcome.previous_version == outcome.version:
            continue
        family = outcome.planned.family
        ledger.add_event(
            LedgerEvent(
                event_id=new_event_id(),
                created_at=utcnow(),
                model_type=family.value,
                decision="alias_set",
                source=by,
                reason=(
                    f"{by}: {family.value}@{outcome.alias.value} v{outcome.previous_version} → "
                    f"v{outcome.version} (gated: {outcome.reason})"
                ),
                assignments_before={outcome.alias.value: outcome.previous_version},
                assignments_after={outcome.alias.value: outcome.version},
                details={"parity": "not applicable: a new version has no stored predictions"},
            )
        )


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        config: Annotated[
            Path | None,
            typer.Option(
                help="Hyperparameter config file (default: TRAINING_CONFIG_PATH, else the "
                "configs shipped with the package)"
            ),
        ] = None,
        model_types: Annotated[
            str | None, typer.Option(help="Families, comma-separated (default: all)")
        ] = None,
        config_ids: Annotated[str | None, typer.Option(help="Config ids, comma-separated")] = None,
        dry_run: Annotated[bool, typer.Option(help="Print the plan and stop")] = False,
        set_: Annotated[
            list[str] | None,
            typer.Option("--set", help="Override a hyperparameter: key=value or family.key=value"),
        ] = None,
        promote_alias: Annotated[
            str | None, typer.Option(help="Point this alias at the new versions")
        ] = None,
        profile: Annotated[
            str | None, typer.Option(help="A profile of the config file, e.g. bootstrap")
        ] = None,
        max_rows: Annotated[
            int | None, typer.Option(min=1, help="Use at most this many labelled rows")
        ] = None,
        skip_cache_sync: SkipCacheSync = False,
        skip_app_reload: SkipAppReload = False,
        replace_live: ReplaceLive = False,
    ) -> None:
        """Train models from the config file, evaluate them in three steps, register them;
        when aliases moved, publish them to the serving cache and reload the app. A new
        version aimed at a non-empty Production or B becomes a challenger for the shadows
        unless --replace-live."""
        from rps.training.configs import ConfigError, parse_overrides, plan
        from rps.training.runner import Placement
        from rps.training.scheduling import Trigger, train_session

        settings = settings_or_exit()
        try:
            config_file = load_training_config(settings, config)
            alias = _aliases(promote_alias)
            planned = plan(
                config_file,
                model_types=_families(model_types),
                config_ids=split_list(config_ids) or None,
                overrides=parse_overrides(set_ or []),
                promote_alias=alias[0] if alias else None,
                profile=profile,
            )
        except ConfigError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        if not planned:
            console.print("[red]nothing to train: no config matches the selection[/red]")
            raise typer.Exit(2)
        if dry_run:
            out.print(_plan_table(planned))
            return
        rows = max_rows
        if profile and config_file.profiles[profile].max_rows and rows is None:
            rows = config_file.profiles[profile].max_rows
        context = _context()
        try:
            with _progress() as progress:
                runner = context.runner(RichTrainingProgress(progress, len(planned)))
                result = train_session(
                    trigger=Trigger.BOOTSTRAP if profile == "bootstrap" else Trigger.MANUAL,
                    load_dataset=lambda: context.load_dataset(rows),
                    runner=runner,
                    placement=Placement.DIRECT if replace_live else Placement.CHALLENGER,
                    lifecycle=context.lifecycle,
                    planned=planned,
                    training_since=settings.training_since(),
                )
            console.print(f"dataset: {result.usable_rows} labelled rows")
            code = _report(context, result.outcomes)
            if replace_live:
                record_live_replacements(context, result.outcomes, "rps train --replace-live")
        finally:
            context.close()
        publish_moves(settings, result.outcomes, skip_cache_sync, skip_app_reload)
        _print_placements(result.outcomes)
        raise typer.Exit(code)

    @app.command("train-aliases")
    def train_aliases(
        model_types: Annotated[str | None, typer.Option(help="Families (default: all)")] = None,
        aliases: Annotated[str | None, typer.Option(help="Aliases (default: all four)")] = None,
        skip_cache_sync: SkipCacheSync = False,
        skip_app_reload: SkipAppReload = False,
        replace_live: ReplaceLive = False,
    ) -> None:
        """Retrain what each alias points at, with its own hyperparameters: a shadow points at
        its new version; a new Production or B version becomes a challenger for the shadows
        unless --replace-live. Then publish to the serving cache and reload the app."""
        from rps.training.configs import ConfigError
        from rps.training.runner import Placement
        from rps.training.scheduling import continue_aliases

        settings = settings_or_exit()
        try:
            config_file = load_training_config(settings)
            families = _families(model_types)
        except ConfigError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        chosen_aliases = _aliases(aliases)
        context = _context()
        try:
            dataset = context.load_dataset()
            total = len(families or list(Family)) * len(chosen_aliases or list(Alias))
            with _progress() as progress:
                outcomes = continue_aliases(
                    registry=context.registry,
                    runner=context.runner(
                        RichTrainingProgress(progress, total), assigned_by="rps train-aliases"
                    ),
                    dataset=dataset,
                    config=config_file,
                    families=families,
                    aliases=chosen_aliases,
                    placement=Placement.DIRECT if replace_live else Placement.CHALLENGER,
                )
            code = _report(context, outcomes)
            if replace_live:
                record_live_replacements(context, outcomes, "rps train-aliases --replace-live")
        finally:
            context.close()
        publish_moves(settings, outcomes, skip_cache_sync, skip_app_reload)
        _print_placements(outcomes)
        raise typer.Exit(code)

    @app.command("train-scheduled")
    def train_scheduled(
        force: Annotated[bool, typer.Option(help="Train even without enough new data")] = False,
        skip_cache_sync: SkipCacheSync = False,
        skip_app_reload: SkipAppReload = False,
    ) -> None:
        """The CronJob entry point: train challengers when there is enough new data. Training
        writes only the shadows (and fills an empty Production or B); promotion moves the rest."""
        from rps.training.configs import ConfigError
        from rps.training.scheduling import scheduled_training

        settings = settings_or_exit()
        try:
            config_file = load_training_config(settings)
        except ConfigError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        context = _context()
        try:
            with _progress() as progress:
                result = scheduled_training(
                    load_dataset=context.load_dataset,
                    registry=context.registry,
                    runner=context.runner(
                        RichTrainingProgress(progress, 12), assigned_by="rps train-scheduled"
                    ),
                    lifecycle=context.lifecycle,
                    config=config_file,
                    min_total_rows=settings.MIN_TOTAL_ROWS,
                    min_new_rows=settings.MIN_NEW_ROWS_FOR_TRAINING,
                    force=force,
                    training_since=settings.training_since(),
                )
            console.print(f"training session {result.training_run_id}: {result.reason}")
            if result.rejected:
                # Not a failure (exit 0): the gate did its job, the aliases keep their versions.
                console.print(
                    "[yellow]the gate refused every model trained: none registered[/yellow]"
                )
            code = _report(context, result.outcomes) if result.outcomes else 0
            if result.failed:
                code = 1
        finally:
            context.close()
        publish_moves(settings, result.outcomes, skip_cache_sync, skip_app_reload)
        # Promotion runs on its own clock (`rps promote`: the rps-promoter CronJob, or the
        # `rps up` scheduler), never right after training: new shadows need games first.
        _print_placements(result.outcomes)
        raise typer.Exit(code)
