"""The one background loop of `rps up` (SPEC §13, §14): persona gameplay, scheduled training,
promotion and the closing of abandoned games on their own intervals, so a local platform shows
the whole lifecycle without cron.

It runs in the `rps up` process, never in a web worker. Gameplay goes through the app's own API
(as the persona-gameplay CronJob does), and training and promotion run as child processes
(`rps train-scheduled`, `rps promote`), so the serving process never loads torch, xgboost or the
MLflow client; closing abandoned games is one UPDATE, run here directly. Each job has its own
thread, so an hour-long training session delays neither promotion nor gameplay (as the CronJobs
on Kubernetes are independent); a job never overlaps itself, alias moves are serialised by the
alias lock, and a failing job is logged and tried again next interval.
"""

from __future__ import annotations

import logging
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from rps.bootstrap import close_abandoned
from rps.domain.gym import training_population
from rps.domain.policy import Policy
from rps.services.simulation import HttpSimulator, schedule
from rps.settings import Settings, export_environment

log = logging.getLogger("rps.scheduler")


@dataclass
class Job:
    name: str
    interval_s: float
    run: Callable[[], str]
    due_at: float = 0.0
    runs: int = 0
    failures: int = 0
    last_result: str | None = None


@dataclass
class Scheduler:
    """Runs each job every ``interval_s`` seconds (the first run one interval after start,
    except gameplay, which starts once the app is ready)."""

    jobs: list[Job]
    clock: Callable[[], float] = time.monotonic
    # Jobs the settings turned off, and why (shown by describe()).
    off: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        """One thread per job: a long job (training) never holds the others up."""
        for job in self.jobs:
            thread = threading.Thread(
                target=self._loop, args=(job,), name=f"rps-scheduler-{job.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def run_job(self, job: Job) -> None:
        started = self.clock()
        try:
            job.last_result = job.run()
            log.info("scheduler: %s: %s", job.name, job.last_result)
        except Exception as exc:
            job.failures += 1
            job.last_result = f"failed: {exc}"
            log.warning("scheduler: %s failed: %s", job.name, exc)
        job.runs += 1
        job.due_at = started + job.interval_s

    def run_due(self) -> list[Job]:
        """Run every job that is due, one after another in this thread; returns those that
        ran (the threads of :meth:`start` do the same, each for its own job)."""
        ran = []
        for job in self.jobs:
            if self._stop.is_set():
                break
            if self.clock() < job.due_at:
                continue
            self.run_job(job)
            ran.append(job)
        return ran

    def _loop(self, job: Job) -> None:
        while not self._stop.is_set():
            if self.clock() >= job.due_at:
                self.run_job(job)
            self._stop.wait(max(0.2, min(5.0, job.due_at - self.clock())))


def _rps(*args: str, timeout: float | None = None) -> str:
    """Run an `rps` command as a child process; the last line it printed is the job's result."""
    completed = subprocess.run(
        [sys.executable, "-m", "rps.cli.main", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    text_lines = [
        line.strip()
        for line in (completed.stdout + "\n" + completed.stderr).splitlines()
        if line.strip() and line.strip()[0].isalnum()  # skip table borders
    ]
    tail = text_lines[-1:] or [""]
    if completed.returncode != 0:
        raise RuntimeError(f"rps {' '.join(args)} exited {completed.returncode}: {tail[0]}")
    return tail[0] or "done"


def wait_until_ready(base_url: str, stop: threading.Event, timeout: float = 600.0) -> bool:
    deadline = time.monotonic() + timeout
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/ready", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        stop.wait(0.5)
    return False


def build_scheduler(settings: Settings, base_url: str) -> Scheduler | None:
    """The jobs the settings ask for; None when the scheduler is off."""
    if not settings.SCHEDULER_ENABLED:
        return None
    # The child processes (training, promotion) ask the app at this address to reload.
    export_environment({"APP_URL": base_url})
    now = time.monotonic()
    jobs: list[Job] = []
    rng = random.Random()
    token = settings.admin_token()
    population = training_population()
    policies = [p.value for p in Policy]
    ready = threading.Event()

    def gameplay() -> str:
        if not ready.is_set():
            if not wait_until_ready(base_url, threading.Event(), timeout=60):
                return "app not ready yet; skipped"
            ready.set()
        plan = schedule(
            rng.sample(population, len(population)), policies, settings.SCHEDULER_GAMEPLAY_GAMES
        )
        with httpx.Client(base_url=base_url, timeout=30) as client:
            # Read the token each time: a rotated token works without restarting `rps up`.
            summary = HttpSimulator(client, settings.admin_token(), rng).run(plan)
        return f"{summary.games} simulated games, {summary.rounds} rounds"

    def training() -> str:
        return _rps("train-scheduled", timeout=6 * 3600)

    def promotion() -> str:
        return _rps("promote", timeout=1800)

    def abandonment() -> str:
        return f"{close_abandoned(settings)} abandoned game(s) closed"

    if settings.SCHEDULER_GAMEPLAY_SECONDS > 0 and token:
        jobs.append(Job("simulated gameplay", settings.SCHEDULER_GAMEPLAY_SECONDS, gameplay, now))
    if settings.SCHEDULER_TRAINING_SECONDS > 0:
        interval = settings.SCHEDULER_TRAINING_SECONDS
        jobs.append(Job("scheduled training", interval, training, now + interval))
    if settings.SCHEDULER_ABANDONMENT_SECONDS > 0:
        # Due at once: games left open while the platform was down are closed on start.
        interval = settings.SCHEDULER_ABANDONMENT_SECONDS
        jobs.append(Job("closing abandoned games", interval, abandonment, now))
    off: list[str] = []
    if settings.SCHEDULER_PROMOTION_SECONDS > 0 and settings.DISABLE_AUTO_PROMOTION:
        # Said once here rather than on every tick; `rps promote` refuses on its own too.
        off.append("promotion (DISABLE_AUTO_PROMOTION=true)")
        log.info(
            "scheduler: DISABLE_AUTO_PROMOTION=true: no promotion runs; "
            "`rps promote --force` moves Production and B by hand"
        )
    elif settings.SCHEDULER_PROMOTION_SECONDS > 0:
        interval = settings.SCHEDULER_PROMOTION_SECONDS
        jobs.append(Job("promotion", interval, promotion, now + interval))
    return Scheduler(jobs, off=off) if jobs else None


def describe(scheduler: Scheduler | None) -> str:
    if scheduler is None:
        return "background scheduler off"
    parts = [f"{job.name} every {job.interval_s:g} s" for job in scheduler.jobs]
    off = f"; off: {', '.join(scheduler.off)}" if scheduler.off else ""
    return "background scheduler: " + ", ".join(parts) + off
