"""The roles a yQuant worker runs, each its own process (`yquant ROLE`), in start order."""

from __future__ import annotations

ROLES: tuple[str, ...] = ("webhook", "engine", "gateway", "dashboard")

# What the load balancer needs from a worker to send it alerts: the order path. Neither the
# dashboard nor the database (the webhook journals while it is away) takes a worker out.
TRADING_ROLES: tuple[str, ...] = ("webhook", "engine", "gateway")

# A role whose last heartbeat is older than this is taken for gone (health checks, and the
# operator's order path, which needs a live gateway).
HEARTBEAT_STALE_S = 15.0
