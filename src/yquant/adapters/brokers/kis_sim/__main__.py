"""`python -m yquant.adapters.brokers.kis_sim`: the simulator as its own process."""

from __future__ import annotations

import sys

from yquant.adapters.brokers.kis_sim.server import main

sys.exit(main())
