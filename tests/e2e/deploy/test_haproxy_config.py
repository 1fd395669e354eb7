"""Reading and rewriting the blue/green server lines: only the `backup` flag ever moves."""

from __future__ import annotations

import pytest

from yquant.adapters.haproxy import HaproxyError, active_in, server_lines, with_active

CONFIG = """global
    stats socket /run/haproxy/admin.sock mode 660 level admin

frontend fe_webhook
    bind :443 ssl crt /etc/haproxy/certs/x.pem
    default_backend be_workers

backend be_other
    server blue 10.9.9.9:80 check backup

backend be_workers
    option httpchk
    server blue 10.0.0.11:6000 check  # yq-blue
    server green 10.0.0.12:6000 check backup
"""


def test_the_active_worker_is_the_one_without_backup() -> None:
    lines = server_lines(CONFIG)
    assert lines["blue"].address == "10.0.0.11:6000" and not lines["blue"].backup
    assert lines["green"].backup
    assert active_in(CONFIG) == "blue"


def test_switching_moves_only_the_backup_flags_of_be_workers() -> None:
    switched = with_active(CONFIG, "green")
    assert active_in(switched) == "green"
    before, after = CONFIG.splitlines(), switched.splitlines()
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    blue = "    server blue 10.0.0.11:6000 check"
    green = "    server green 10.0.0.12:6000 check"
    assert changed == [
        (f"{blue}  # yq-blue", f"{blue} backup  # yq-blue"),
        (f"{green} backup", green),
    ]
    assert with_active(switched, "blue") == CONFIG  # and back, byte for byte
    assert with_active(CONFIG, "blue") == CONFIG


@pytest.mark.parametrize(
    "broken",
    [
        CONFIG.replace("check backup\n", "check\n"),  # both active
        CONFIG.replace("check  # yq-blue", "check backup  # yq-blue"),  # both backup
        CONFIG.replace("    server green 10.0.0.12:6000 check backup\n", ""),  # one missing
    ],
)
def test_a_layout_that_is_not_one_active_and_one_backup_is_refused(broken: str) -> None:
    with pytest.raises(HaproxyError):
        active_in(broken)
