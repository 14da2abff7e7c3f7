"""`bootstrap()` builds the house from its list of rooms: each room's wiring runs once per process, its jobs run
in the worker. (That a process which never builds the web app is wired too: tests/integration/test_demo.py.)"""

from tests.integration.core.sample_room import room as sample

from omnihub.bootstrap import ROOMS, bootstrap
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.worker import Worker


def test_a_room_plugs_in_with_its_wiring_and_its_jobs(settings: Settings, db: Database, clock: ManualClock) -> None:
    rooms = (*ROOMS, "tests.integration.core.sample_room")
    sample.calls.update(tidy=0, audit=0, expire=0)

    house = bootstrap(rooms)
    again = bootstrap(rooms)
    worker = Worker(settings, db, clock, handlers=[], house=house)
    worker.step()
    worker.step()
    clock.advance(hours=1)
    worker.step()

    assert again is house
    assert [room.name for room in house.rooms][-1] == "sample"
    assert sample.calls["wire"] == 1  # once per process, however many entry points ask
    assert {"sample.tidy", "sample.audit", "commerce.expire_pickups", "inventory.release_expired"} <= {
        job.name for job in house.jobs(settings)}
    assert sample.calls["tidy"] == 3
    assert sample.calls["audit"] == 2  # every hour by the injected clock, not every step
    assert worker.stats.jobs["sample.audit"] == 2


def test_jobs_switched_off_by_the_settings_are_left_out(settings: Settings) -> None:
    house = bootstrap()

    assert "messaging.send_email" not in {job.name for job in house.jobs(settings.model_copy(
        update={"smtp_url": None}))}
    assert "messaging.send_email" in {job.name for job in house.jobs(settings.model_copy(
        update={"smtp_url": "smtp://127.0.0.1:2525"}))}


def test_a_paced_job_rests_between_polls_in_the_running_loop_unless_it_left_a_backlog(
        settings: Settings, db: Database, clock: ManualClock) -> None:
    house = bootstrap((*ROOMS, "tests.integration.core.sample_room"))
    expire = next(job for job in house.jobs(settings) if job.name == "sample.expire")
    sample.calls.update(expire=0)
    sample.backlog[:] = []

    drained = Worker(settings.model_copy(update={"worker_pace_seconds": 3600}), db, clock, handlers=[], house=house)
    for _ in range(3):
        drained.run_job(expire)
    assert sample.calls["expire"] == 3  # drain() and tests: every step

    looping = Worker(settings.model_copy(update={"worker_pace_seconds": 3600}), db, clock, handlers=[], house=house)
    looping.paced = True
    sample.calls.update(expire=0)
    assert looping.run_job(expire) == 0  # nothing due: it rests
    assert looping.run_job(expire) == 0
    assert sample.calls["expire"] == 1

    sample.backlog[:] = [10, 10, 3]  # a full batch means more is waiting: it goes on, then rests
    fresh = Worker(settings.model_copy(update={"worker_pace_seconds": 3600}), db, clock, handlers=[], house=house)
    fresh.paced = True
    sample.calls.update(expire=0)
    assert fresh.run_job(expire) == 23
    assert fresh.run_job(expire) == 0
    assert sample.calls["expire"] == 3

    unpaced = Worker(settings.model_copy(update={"worker_pace_seconds": 0}), db, clock, handlers=[], house=house)
    unpaced.paced = True
    sample.calls.update(expire=0)
    unpaced.run_job(expire)
    unpaced.run_job(expire)
    assert sample.calls["expire"] == 2  # OMNIHUB_WORKER_PACE_SECONDS=0: every step


def test_a_job_with_runs_stops_after_that_many_batches_in_a_step(settings: Settings, db: Database,
                                                                   clock: ManualClock) -> None:
    """`Job.runs`: a backlog is taken a few batches per step (the step's dispatch comes round in between)."""
    from dataclasses import replace

    house = bootstrap((*ROOMS, "tests.integration.core.sample_room"))
    expire = replace(next(job for job in house.jobs(settings) if job.name == "sample.expire"), runs=2, paced=False)
    sample.calls.update(expire=0)
    sample.backlog[:] = [10, 10, 10, 3]
    worker = Worker(settings, db, clock, handlers=[], house=house)
    assert worker.run_job(expire) == 20
    assert worker.run_job(expire) == 13
    assert sample.calls["expire"] == 4
