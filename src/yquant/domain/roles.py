"""The roles a yQuant worker runs, each its own process (`yquant ROLE`), in start order."""

from __future__ import annotations

from enum import StrEnum

ROLES: tuple[str, ...] = ("webhook", "engine", "gateway", "dashboard", "notifier")

# What makes a worker ready (`yquant health`, the dashboard's `/healthz`, a switch's check): every
# role but the notifier, which is reported but whose absence never holds up trading or a switch.
READY_ROLES: tuple[str, ...] = ("webhook", "engine", "gateway", "dashboard")

# What the load balancer needs from a worker to send it alerts: the order path. Neither the
# dashboard nor the database (the webhook journals while it is away) takes a worker out.
TRADING_ROLES: tuple[str, ...] = ("webhook", "engine", "gateway")

# A role whose last heartbeat is older than this is taken for gone (health checks, and the
# operator's order path, which needs a live gateway).
HEARTBEAT_STALE_S = 15.0


class Standing(StrEnum):
    """Where a worker stands in the blue/green pair, as far as it knows (the ``deployment`` row
    when the database answers, its last answer while it does not).

    Only an ``ACTIVE`` worker sends orders and calls its brokers; a ``STANDBY`` worker records
    what reaches it and hands each signal's orders to the active worker (the order queue in the
    database); a worker ``TAKING_OVER`` has just been named active and waits out the handover
    (`handover_s`) before it calls a broker, so that the worker it replaces has stopped.
    """

    ACTIVE = "active"
    TAKING_OVER = "taking_over"
    STANDBY = "standby"


# How often every order-path process of a worker reads the active role from the database.
ROLE_REFRESH_S = 1.0


def handover_s(database_timeout_s: float) -> float:
    """How long a newly active worker waits before it calls a broker or sends: the worker it
    replaces reads the role every `ROLE_REFRESH_S` (a read may take the database's timeout), and
    a second more keeps the two workers' calls out of one rate-limit second."""
    return 2 * ROLE_REFRESH_S + database_timeout_s + 1.0
