"""Who may send: the active role as a worker knows it, the handover, work only while active."""

from __future__ import annotations

import asyncio

from tests.fakes import FakeRoles
from tests.support import eventually
from yquant.domain.roles import Standing, handover_s
from yquant.errors import DatabaseUnavailableError
from yquant.services.worker_state import ActiveRole


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class AwayRoles(FakeRoles):
    """The deployment row while the database may be away."""

    def __init__(self, active: tuple[str, int] | None = None) -> None:
        super().__init__(active)
        self.up = True

    async def active(self) -> tuple[str, int] | None:
        if not self.up:
            raise DatabaseUnavailableError("away")
        return self.current


def test_the_handover_outlasts_the_other_workers_view_of_the_role() -> None:
    # The other worker reads the role every second, each read taking up to the timeout.
    assert handover_s(2.0) > 1.0 + 2.0 + 1.0


def test_the_embedded_worker_is_active_without_a_deployment_row() -> None:
    assert ActiveRole(FakeRoles(), "local", handover_s=5).standing() is Standing.ACTIVE
    assert ActiveRole(FakeRoles(), "blue", handover_s=5).standing() is Standing.STANDBY


async def test_a_worker_named_active_takes_over_after_the_handover() -> None:
    clock, roles = Clock(), AwayRoles(("blue", 1))
    green = ActiveRole(roles, "green", handover_s=5, monotonic=clock)
    await green.epoch()
    assert green.standing() is Standing.STANDBY
    roles.current = ("green", 2)
    assert await green.epoch() == 2
    assert green.standing() is Standing.TAKING_OVER
    clock.t += 4.9
    assert green.standing() is Standing.TAKING_OVER
    clock.t += 0.2
    assert green.standing() is Standing.ACTIVE
    await green.epoch()  # the same epoch read again: still active, no new handover
    assert green.standing() is Standing.ACTIVE
    roles.current = ("blue", 3)
    await green.epoch()
    assert green.standing() is Standing.STANDBY


async def test_while_the_database_is_away_the_last_known_role_stands() -> None:
    clock, roles = Clock(), AwayRoles(("blue", 4))
    blue = ActiveRole(roles, "blue", handover_s=5, monotonic=clock)
    green = ActiveRole(roles, "green", handover_s=5, monotonic=clock)
    for role in (blue, green):
        await role.epoch()
    clock.t += 10
    roles.up = False
    roles.current = ("green", 5)  # a switch the workers cannot see: it needs the database
    for role in (blue, green):
        assert await role.epoch() == (4 if role is blue else None)
    assert (blue.standing(), green.standing()) == (Standing.ACTIVE, Standing.STANDBY)


def test_a_role_held_before_the_restart_at_the_same_epoch_needs_no_handover() -> None:
    clock = Clock()
    known = ActiveRole(FakeRoles(), "blue", ("blue", 7), handover_s=5, monotonic=clock)
    known.observe(("blue", 7))
    assert known.standing() is Standing.ACTIVE
    known.observe(("blue", 8))  # switched away and back meanwhile: another held it
    assert known.standing() is Standing.TAKING_OVER


async def test_work_runs_only_while_active_and_resumes_when_active_again() -> None:
    roles = AwayRoles(("blue", 1))
    blue = ActiveRole(roles, "blue")
    await blue.epoch()
    stop = asyncio.Event()
    runs: list[str] = []

    async def work(leave: asyncio.Event) -> None:
        runs.append("start")
        await leave.wait()
        runs.append("left")

    task = asyncio.create_task(blue.while_active(stop, work))
    await eventually(lambda: runs, every_s=0.01)
    assert runs == ["start"]
    roles.current = ("green", 2)
    await blue.epoch()
    await eventually(lambda: len(runs) == 2, every_s=0.01)
    assert runs == ["start", "left"]
    roles.current = ("blue", 3)
    await blue.epoch()
    await eventually(lambda: len(runs) == 3, every_s=0.01)
    assert runs == ["start", "left", "start"]
    stop.set()
    await task
    assert runs == ["start", "left", "start", "left"]
