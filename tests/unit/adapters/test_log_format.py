"""JSON log lines: one object per line with the fixed keys and the call's extras."""

from __future__ import annotations

import io
import json
import logging

from yquant.adapters.log_format import JsonFormatter


def test_each_record_is_one_json_line_with_its_extras_and_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("engine"))
    log = logging.getLogger("yquant.test.jsonlog")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        log.info("signal decided key=%s", "s1", extra={"account": "paper", "orders": 2})
        log.warning("두 줄\nmessage")  # a newline and Korean text stay inside one line
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert first["message"] == "signal decided key=s1"
    assert (first["level"], first["role"], first["logger"]) == ("INFO", "engine", log.name)
    assert (first["account"], first["orders"]) == ("paper", 2)
    assert first["time"].endswith("+00:00")
    assert "args" not in first and "msg" not in first  # only the formatted message
    assert second["message"] == "두 줄\nmessage"
    assert third["level"] == "ERROR" and "ValueError: boom" in third["exc"]


def test_configure_logging_json_writes_json_to_stderr(capsys) -> None:
    from yquant.bootstrap import configure_logging

    configure_logging("INFO", "webhook", "json")
    try:
        logging.getLogger("yquant.test").info("hello")
    finally:
        configure_logging("INFO", "webhook")
    [line] = [line for line in capsys.readouterr().err.splitlines() if line]
    record = json.loads(line)
    assert (record["role"], record["message"]) == ("webhook", "hello")
