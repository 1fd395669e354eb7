"""Named crash points for exactly-once tests.

``YQUANT_FAILPOINTS=gateway.after_submit,engine.after_consume`` makes the process kill itself
with SIGKILL when it reaches one of the named points, the way a power cut or an OOM kill would.
Unset (always, in production) every call is a cheap set lookup that does nothing.
"""

from __future__ import annotations

import os
import signal

_ARMED = frozenset(p for p in os.environ.get("YQUANT_FAILPOINTS", "").split(",") if p)


def hit(name: str) -> None:
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
