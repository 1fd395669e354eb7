"""A local HTTP server in KIS's place, and fixture master files with the edge cases that matter."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.catalog.masterfiles import Cod, Krx, cod_file, krx_file, zipped
from tests.support import free_port

PREFIX = "/common/master/"


class MasterServer:
    """Serves ``files`` (archive name → bytes) under /common/master/, with chosen faults:

    ``503``: an HTTP error; ``cut``: a Content-Length for the whole file, half of it sent, then
    the connection closed; ``html``: a 200 page that is not a zip.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, str] = {}
        self.requests: list[str] = []
        self.port = free_port()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                name = self.path.removeprefix(PREFIX)
                fault = server.faults.get(name)
                body = server.files.get(name) if self.path.startswith(PREFIX) else None
                if fault == "503":
                    self.send_error(503, "maintenance")
                    return
                if fault == "html":
                    body = b"<html><body>Service temporarily unavailable</body></html>"
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if fault == "cut":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    def start(self) -> MasterServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def publish(self, archive: str, member: str, data: bytes) -> None:
        self.files[archive] = zipped(member, data)

    def publish_kr(
        self, kospi: list[Krx], kosdaq: list[Krx], konex: list[Krx], newline: bytes = b"\n"
    ) -> None:
        self.publish("kospi_code.mst.zip", "kospi_code.mst", krx_file("kospi", kospi, newline))
        self.publish("kosdaq_code.mst.zip", "kosdaq_code.mst", krx_file("kosdaq", kosdaq, newline))
        self.publish("konex_code.mst.zip", "konex_code.mst", krx_file("konex", konex, newline))

    def publish_us(self, nas: list[Cod], nys: list[Cod], ams: list[Cod]) -> None:
        self.publish("nasmst.cod.zip", "NASMST.COD", cod_file(nas))
        self.publish("nysmst.cod.zip", "NYSMST.COD", cod_file(nys))
        self.publish("amsmst.cod.zip", "AMSMST.COD", cod_file(ams))


# ---- fixture rows -------------------------------------------------------------------------------

# A name of exactly 20 Hangul syllables fills the 40-byte field to its last byte.
FULL_NAME = "미래에셋맵스아시아퍼시픽부동산공모제일호"
# One ASCII letter then Hangul: the 20th syllable would need bytes 40-41, so it is dropped...
ODD_NAME = "K미래에셋맵스아시아퍼시픽부동산공모제일호"
# ...or, written byte by byte, its first byte is the field's last one.
assert len(FULL_NAME.encode("cp949")) == 40 and len(ODD_NAME.encode("cp949")) == 41

KOSPI = [
    Krx("005930", "KR7005930003", "삼성전자", base_price=71000, listing_date="19750611"),
    Krx("005935", "KR7005931001", "삼성전자우", preferred="1", base_price=58000),
    Krx("069500", "KR7069500007", "KODEX 200", group="EF", etp="2"),
    Krx("530036", "KRG530036001", "삼성 인버스 2X WTI원유 선물 ETN", group="EN", etp="3"),
    Krx("000040", "KR7000040006", "KR모터스", halted=True),
    Krx("123450", "KR7123450009", "이중상장시험"),
    Krx("58F001", "KRA58F001003", "한국F001삼성전자콜", group="EW"),
    Krx("451000", "KR7451000001", FULL_NAME, group="MF"),
    Krx("451010", "KR7451010000", ODD_NAME, group="MF"),
    Krx("451020", "KR7451020009", ODD_NAME, group="MF", cut="bytes"),
    Krx("440790", "KR7440790001", "하나금융25호스팩", spac=True),
    Krx("001070", "KR7001070002", "대한방직", managed=True, liquidation=True, warning="03"),
]
KOSDAQ = [
    Krx("247540", "KR7247540008", "에코프로비엠", base_price=180000),
    Krx("028300", "KR7028300002", "HLB"),
    Krx("123450", "KR7123450009", "이중상장시험"),
    Krx("900110", "HK0000057197", "이스트아시아홀딩스", group="FS", halted=True),
]
KONEX = [
    Krx("278990", "KR7278990002", "엠에이치씨앤씨", group="KN"),
    Krx("199150", "KR7199150004", "데이터스트림즈", group="KN"),
]
NASDAQ = [
    Cod("NAS", "AAPL", "애플", "APPLE INC", base_price="228.5000"),
    Cod("NAS", "MSFT", "마이크로소프트", "MICROSOFT CORP"),
    Cod("NAS", "QQQ", "인베스코 QQQ", "INVESCO QQQ TRUST SERIES 1", kind="3", etp_class="001"),
    Cod("NAS", "SIRI", "시리우스XM 홀딩스", "SIRIUS XM HOLDINGS INC", base_price="0.8123"),
]
NYSE = [
    Cod("NYS", "BRK/B", "버크셔 해서웨이 B", "BERKSHIRE HATHAWAY INC-CL B"),
    Cod("NYS", "TSM", "TSMC", "TAIWAN SEMICONDUCTOR-SP ADR", dr=True),
    Cod("NYS", "AAC/WS", "아레스 애퀴지션 워런트", "ARES ACQUISITION CORP-WTS", kind="4"),
    Cod("NYS", "AAPL", "애플 뉴욕", "APPLE INC NYSE ROW"),
]
AMEX = [
    Cod("AMS", "SPY", "SPDR S&P500 ETF", "SPDR S&P 500 ETF TRUST", kind="3", etp_class="001"),
    Cod("AMS", "SOXL", "디렉시온 반도체 3X", "DIREXION DAILY SEMICONDUCTOR BULL 3X", kind="3"),
]


@pytest.fixture
def masters() -> Iterator[MasterServer]:
    server = MasterServer().start()
    server.publish_kr(KOSPI, KOSDAQ, KONEX)
    server.publish_us(NASDAQ, NYSE, AMEX)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening: connections are refused."""
    return free_port()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path
