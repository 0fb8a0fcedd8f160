"""The background scheduler of `rps up` (SPEC §7, §13): which jobs the settings ask for."""

from __future__ import annotations

import logging
import threading

import pytest

from rps.cli.scheduler import Job, Scheduler, build_scheduler, describe
from rps.settings import Settings, load_settings

APP = "http://127.0.0.1:8765"


@pytest.fixture
def settings_for(monkeypatch, tmp_path):
    # build_scheduler exports APP_URL for its child processes; monkeypatch puts it back.
    monkeypatch.setenv("APP_URL", APP)
    for name in Settings.model_fields:
        if name != "APP_URL":
            monkeypatch.delenv(name, raising=False)

    def make(**values: object) -> Settings:
        return load_settings(DATA_PATH=tmp_path, **values)

    return make


def test_promotion_runs_on_its_own_interval_by_default(settings_for, caplog):
    caplog.set_level(logging.INFO, logger="rps.scheduler")
    scheduler = build_scheduler(settings_for(SCHEDULER_PROMOTION_SECONDS=600), APP)
    assert scheduler is not None
    jobs = {job.name: job.interval_s for job in scheduler.jobs}
    assert jobs["promotion"] == 600
    assert "promotion every 600 s" in describe(scheduler)
    assert "DISABLE_AUTO_PROMOTION" not in describe(scheduler)
    assert [r for r in caplog.records if "DISABLE_AUTO_PROMOTION" in r.getMessage()] == []


def test_disable_auto_promotion_leaves_promotion_out_and_says_so_once(settings_for, caplog):
    caplog.set_level(logging.INFO, logger="rps.scheduler")
    scheduler = build_scheduler(settings_for(DISABLE_AUTO_PROMOTION=True), APP)
    assert scheduler is not None
    assert "promotion" not in [job.name for job in scheduler.jobs]
    assert describe(scheduler).endswith("; off: promotion (DISABLE_AUTO_PROMOTION=true)")
    said = [r for r in caplog.records if "DISABLE_AUTO_PROMOTION" in r.getMessage()]
    assert len(said) == 1
    # Ticks run the other jobs, never promotion, and do not repeat the message.
    for job in scheduler.jobs:
        job.run = lambda: "done"
    for _ in range(3):
        for job in scheduler.jobs:
            job.due_at = 0.0
        ran = [job.name for job in scheduler.run_due()]
        assert ran
        assert "promotion" not in ran
    assert len([r for r in caplog.records if "DISABLE_AUTO_PROMOTION" in r.getMessage()]) == 1


def test_a_promotion_interval_of_zero_is_off_without_blaming_the_setting(settings_for, caplog):
    caplog.set_level(logging.INFO, logger="rps.scheduler")
    scheduler = build_scheduler(
        settings_for(SCHEDULER_PROMOTION_SECONDS=0, DISABLE_AUTO_PROMOTION=True), APP
    )
    assert scheduler is not None
    assert "promotion" not in describe(scheduler)
    assert caplog.records == []


def test_a_long_job_does_not_hold_the_others_up():
    """Training can take an hour: promotion and gameplay keep their own clocks meanwhile."""
    release = threading.Event()
    promotions = threading.Semaphore(0)

    def training() -> str:
        release.wait(30)
        return "trained"

    def promotion() -> str:
        promotions.release()
        return "promoted"

    scheduler = Scheduler(
        [Job("scheduled training", 3600, training), Job("promotion", 0.01, promotion)]
    )
    scheduler.start()
    try:
        # Three promotion runs while training is still running.
        for _ in range(3):
            assert promotions.acquire(timeout=10), "promotion waited for training"
        assert not release.is_set()
        assert scheduler.jobs[0].runs == 0
    finally:
        release.set()
        scheduler.stop()
    assert scheduler.jobs[0].last_result == "trained"
    assert scheduler.jobs[1].runs >= 3
