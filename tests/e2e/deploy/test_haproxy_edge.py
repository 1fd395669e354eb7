"""The rendered HAProxy front door, on the real HAProxy: what reaches a worker and what not.

The workers here are recording HTTP servers (they keep every request they get), so each test can
tell exactly what passed the edge, with which headers, and how many times.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.deploy.stack import ROOT, Haproxy, client_tls, make_certificate
from tests.support import free_port, wait_until
from yquant.settings import TRADINGVIEW_IPS

HOOK = ROOT / "deploy" / "haproxy" / "certbot-deploy-hook.sh"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    """A worker stand-in that records requests; `hang_up` makes it read a POST and close."""

    port: int = field(default_factory=free_port)
    seen: list[Seen] = field(default_factory=list)
    hang_up: bool = False
    answer: bytes = b'{"status":"accepted"}'

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def posts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]


def _serve(recorder: Recorder) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = b""
                while size := int(self.rfile.readline().strip() or b"0", 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                return body
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _handle(self) -> None:
            body = self._read_body()
            recorder.seen.append(Seen(self.command, self.path, dict(self.headers), body))
            if recorder.hang_up and self.command == "POST":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(recorder.answer)))
            self.end_headers()
            self.wfile.write(recorder.answer)

        do_GET = _handle  # noqa: N815 - http.server's handler names
        do_POST = _handle  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", recorder.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def workers() -> Iterator[dict[str, Recorder]]:
    recorders = {"blue": Recorder(), "green": Recorder()}
    servers = [_serve(r) for r in recorders.values()]
    yield recorders
    for s in servers:
        s.shutdown()
        s.server_close()


@contextlib.contextmanager
def edge(tmp_path: Path, workers: dict[str, Recorder], *extra: str) -> Iterator[Haproxy]:
    combined, _ = make_certificate(tmp_path / "tls")
    proxy = Haproxy(tmp_path, combined)
    args = extra or ("--no-allow-tradingview-ips",)
    proxy.render(workers["blue"].address, workers["green"].address, "blue", *args)
    proxy.start()
    try:
        proxy.wait_up("blue", "green")
        yield proxy
    finally:
        proxy.stop()


def _client(tmp_path: Path) -> httpx.Client:
    return httpx.Client(verify=client_tls(tmp_path / "tls" / "cert.pem"), timeout=5)


def _url(proxy: Haproxy, path: str = "/webhook") -> str:
    return f"https://127.0.0.1:{proxy.https_port}{path}"


def test_only_post_to_the_webhook_path_reaches_the_active_worker(
    tmp_path: Path, workers: dict[str, Recorder]
) -> None:
    with edge(tmp_path, workers) as proxy, _client(tmp_path) as client:
        spoofed = {"X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.6"}
        assert client.post(_url(proxy), content=b"{}", headers=spoofed).status_code == 200
        assert client.post(_url(proxy, "/webhook/tok-123_x"), content=b"{}").status_code == 200
        assert client.get(_url(proxy)).status_code == 405
        assert client.put(_url(proxy), content=b"{}").status_code == 405
        assert client.post(_url(proxy, "/admin"), content=b"{}").status_code == 404
        assert client.post(_url(proxy, "/webhookx"), content=b"{}").status_code == 404
        assert client.post(_url(proxy, "/webhook/a/b"), content=b"{}").status_code == 404

    posts = workers["blue"].posts()
    assert [p.path for p in posts] == ["/webhook", "/webhook/tok-123_x"]
    assert not workers["green"].posts()  # the standby is `backup`: it gets nothing
    first = {k.lower(): v for k, v in posts[0].headers.items()}
    assert first["x-forwarded-for"] == "127.0.0.1"  # replaced, not appended to
    assert first["x-forwarded-proto"] == "https"
    assert "forwarded" not in first


def test_body_cap_holds_for_chunked_bodies_too(
    tmp_path: Path, workers: dict[str, Recorder]
) -> None:
    with edge(tmp_path, workers) as proxy, _client(tmp_path) as client:
        big = b"x" * 20000
        assert client.post(_url(proxy), content=iter([big])).status_code == 413  # chunked
        assert client.post(_url(proxy), content=iter([b"y" * 9000])).status_code == 413
        assert client.post(_url(proxy), content=b"z" * 9000).status_code == 413  # with length
        small = client.post(_url(proxy), content=iter([b'{"a": 1}']))
        assert small.status_code == 200
    assert [p.body for p in workers["blue"].posts()] == [b'{"a": 1}']


def test_requests_over_the_rate_limit_get_429(tmp_path: Path, workers: dict[str, Recorder]) -> None:
    with (
        edge(tmp_path, workers, "--no-allow-tradingview-ips", "--rate-limit", "5") as proxy,
        _client(tmp_path) as client,
    ):
        codes = [client.post(_url(proxy), content=b"{}").status_code for _ in range(8)]
    assert codes == [200] * 5 + [429] * 3
    assert len(workers["blue"].posts()) == 5


def test_shared_senders_are_not_rate_limited(tmp_path: Path, workers: dict[str, Recorder]) -> None:
    # TradingView's addresses carry every TradingView user's alerts: exempt by default; here
    # loopback stands in for them.
    args = ("--no-allow-tradingview-ips", "--rate-limit", "5", "--exempt-source", "127.0.0.1")
    with edge(tmp_path, workers, *args) as proxy, _client(tmp_path) as client:
        codes = [client.post(_url(proxy), content=b"{}").status_code for _ in range(8)]
    assert codes == [200] * 8
    cfg = (tmp_path / "haproxy" / "haproxy.cfg").read_text()
    exempt = re.search(r"acl shared_sender src (.+)", cfg)
    assert exempt is not None
    assert exempt.group(1).split() == [*TRADINGVIEW_IPS, "127.0.0.1/32"]


def test_tradingview_allow_list_refuses_other_sources(
    tmp_path: Path, workers: dict[str, Recorder]
) -> None:
    with edge(tmp_path, workers, "--allow-tradingview-ips") as proxy, _client(tmp_path) as client:
        assert client.post(_url(proxy), content=b"{}").status_code == 403
    assert not workers["blue"].posts()
    with (
        edge(tmp_path / "b", workers, "--allow-source", "127.0.0.1") as proxy,
        httpx.Client(verify=client_tls(tmp_path / "b" / "tls" / "cert.pem")) as client,
    ):
        assert client.post(_url(proxy), content=b"{}").status_code == 200
    cfg = (tmp_path / "haproxy" / "haproxy.cfg").read_text()
    assert "52.89.214.238 34.212.75.30 54.218.53.128 52.32.178.7" in cfg


def test_port_80_redirects_to_https_and_passes_acme_challenges_to_certbot(
    tmp_path: Path, workers: dict[str, Recorder]
) -> None:
    certbot = Recorder(answer=b"token-body")
    server = _serve(certbot)
    try:
        with edge(
            tmp_path, workers, "--no-allow-tradingview-ips", "--acme-port", str(certbot.port)
        ) as proxy:
            plain = f"http://127.0.0.1:{proxy.http_port}"
            moved = httpx.post(f"{plain}/webhook", content=b"{}")
            assert moved.status_code == 301
            assert moved.headers["location"].startswith("https://")
            challenge = httpx.get(f"{plain}/.well-known/acme-challenge/abc")
            assert challenge.status_code == 200 and challenge.content == b"token-body"
    finally:
        server.shutdown()
        server.server_close()
    assert [s.path for s in certbot.seen] == ["/.well-known/acme-challenge/abc"]
    assert not workers["blue"].posts()


def test_a_post_that_reached_a_worker_is_never_replayed(
    tmp_path: Path, workers: dict[str, Recorder]
) -> None:
    workers["blue"].hang_up = True  # reads the request, then closes without an answer
    with edge(tmp_path, workers) as proxy, _client(tmp_path) as client:
        reply = client.post(_url(proxy), content=b'{"id": "once"}')
    assert reply.status_code == 502
    delivered = workers["blue"].posts() + workers["green"].posts()
    assert [p.body for p in delivered] == [b'{"id": "once"}']


def test_certbot_hook_installs_the_renewed_certificate_and_reloads(
    tmp_path: Path, workers: dict[str, Recorder]
) -> None:
    with edge(tmp_path, workers) as proxy:
        # The config names <certs dir>/combined.pem: the lineage is named after that file.
        lineage = tmp_path / "live" / "combined"
        _, new_cert = make_certificate(lineage)
        (lineage / "fullchain.pem").write_bytes(new_cert.read_bytes())
        (lineage / "privkey.pem").write_bytes((lineage / "key.pem").read_bytes())
        env = {
            **os.environ,
            "RENEWED_LINEAGE": str(lineage),
            "RENEWED_DOMAINS": "yq.test",
            "YQ_HAPROXY_CERTS_DIR": str(proxy.cert.parent),
            "YQ_HAPROXY_CFG": str(proxy.cfg),
            "YQ_HAPROXY_BIN": "/usr/sbin/haproxy",
            "YQ_HAPROXY_RELOAD": proxy.reload_command,
        }
        old_pem = proxy.cert.read_bytes()

        wrong = tmp_path / "live" / "wrong"
        make_certificate(wrong)
        (wrong / "fullchain.pem").write_bytes(new_cert.read_bytes())  # key of another cert
        (wrong / "privkey.pem").write_bytes((wrong / "key.pem").read_bytes())
        refused = subprocess.run(
            ["bash", str(HOOK)], env={**env, "RENEWED_LINEAGE": str(wrong)}, capture_output=True
        )
        assert refused.returncode != 0
        assert proxy.cert.read_bytes() == old_pem

        done = subprocess.run(["bash", str(HOOK)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert proxy.cert.read_bytes().startswith(new_cert.read_bytes())
        assert proxy.cert.stat().st_mode & 0o777 == 0o600
        expected = ssl.PEM_cert_to_DER_cert(new_cert.read_text())
        wait_until(lambda: _served_certificate(proxy.https_port) == expected, timeout_s=15)


def _served_certificate(port: int) -> bytes | None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
            ctx.wrap_socket(raw, server_hostname="yq.test") as tls,
        ):
            return tls.getpeercert(binary_form=True)
    except OSError:
        return None


def test_the_request_log_masks_the_path_token(tmp_path: Path, workers: dict[str, Recorder]) -> None:
    """TradingView puts the path token in the URL; HAProxy's request log must not keep it."""
    token = "tok-" + "9f8e7d6c5b4a"
    with edge(tmp_path, workers) as proxy, _client(tmp_path) as client:
        reply = client.post(_url(proxy, f"/webhook/{token}?x=1"), content=b"{}")
        assert reply.status_code == 200
        plain = httpx.get(f"http://127.0.0.1:{proxy.http_port}/webhook/{token}", timeout=5)
        assert plain.status_code == 301
        wait_until(lambda: proxy.log().count("/webhook/<token>") >= 2, timeout_s=10)
        assert '"POST /webhook/<token> HTTP/1.1"' in proxy.log()
        assert " 200 " in proxy.log() and " 301 " in proxy.log()
    assert token not in proxy.log()
    assert [p.path for p in workers["blue"].posts()] == [f"/webhook/{token}?x=1"]
