"""Writes KIS master files in their exact published layouts, for fixtures and for the snapshot.

Independent of the parser under test: the tail widths below are copied from KIS's own
``stocks_info`` scripts as plain numbers (``field_specs`` of ``kis_kospi_code_mst.py`` and
``kis_kosdaq_code_mst.py``; the negative offsets of ``kis_konex_code_mst.py``), and each field
we set is addressed by its position in KIS's column list.

Records: 9-byte short code + 12-byte ISIN + 40-byte cp949 name + ASCII tail; ``.cod`` files are
24 tab-separated cp949 columns. ``python -m tests.catalog.masterfiles --snapshot`` rebuilds
``src/yquant/adapters/catalog/snapshot.zip`` from the real, publicly known values in
``KRX_MAIN`` and ``US_MAIN``; fields a snapshot cannot know (prices, volumes, financials) are
zero, and KIS-internal columns of the .cod rows (exchange id, tick size type) are plausible,
not verified.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

# fmt: off
KOSPI_WIDTHS = [2, 1, 4, 4, 4,
                1, 1, 1, 1, 1,
                1, 1, 1, 1, 1,
                1, 1, 1, 1, 1,
                1, 1, 1, 1, 1,
                1, 1, 1, 1, 1,
                1, 9, 5, 5, 1,
                1, 1, 2, 1, 1,
                1, 2, 2, 2, 3,
                1, 3, 12, 12, 8,
                15, 21, 2, 7, 1,
                1, 1, 1, 1, 9,
                9, 9, 5, 9, 8,
                9, 3, 1, 1, 1]
KOSDAQ_WIDTHS = [2, 1,
                 4, 4, 4, 1, 1,
                 1, 1, 1, 1, 1,
                 1, 1, 1, 1, 1,
                 1, 1, 1, 1, 1,
                 1, 1, 1, 1, 9,
                 5, 5, 1, 1, 1,
                 2, 1, 1, 1, 2,
                 2, 2, 3, 1, 3,
                 12, 12, 8, 15, 21,
                 2, 7, 1, 1, 1,
                 1, 9, 9, 9, 5,
                 9, 8, 9, 3, 1,
                 1, 1]
# KONEX: row[-184:-182] group, [-182:-173] base price, ... (kis_konex_code_mst.py)
KONEX_WIDTHS = [2, 9, 5, 5, 1, 1, 1, 2, 1, 1, 1, 2, 2, 2, 3, 1, 3, 12, 12, 8, 15, 21, 2, 7,
                1, 1, 1, 1, 9, 9, 9, 5, 9, 8, 9, 1, 1, 1]
# fmt: on

# Positions (0-based) in KIS's column lists of the fields a fixture sets.
POSITIONS = {
    "kospi": {
        "group": 0, "etp": 12, "spac": 19, "base_price": 31, "lot": 32, "after_hours_lot": 33,
        "halted": 34, "liquidation": 35, "managed": 36, "warning": 37, "margin": 44,
        "credit": 45, "listing_date": 49, "preferred": 54,
    },
    "kosdaq": {
        "group": 0, "etp": 8, "spac": 14, "base_price": 26, "lot": 27, "after_hours_lot": 28,
        "halted": 29, "liquidation": 30, "managed": 31, "warning": 32, "margin": 39,
        "credit": 40, "listing_date": 44, "preferred": 49,
    },
    "konex": {
        "group": 0, "base_price": 1, "lot": 2, "after_hours_lot": 3, "halted": 4,
        "liquidation": 5, "managed": 6, "warning": 7, "margin": 14, "credit": 15,
        "listing_date": 19, "preferred": 24,
    },
}  # fmt: skip
WIDTHS = {"kospi": KOSPI_WIDTHS, "kosdaq": KOSDAQ_WIDTHS, "konex": KONEX_WIDTHS}
MEMBERS = {
    "kospi": "kospi_code.mst",
    "kosdaq": "kosdaq_code.mst",
    "konex": "konex_code.mst",
    "nas": "nasmst.cod",
    "nys": "nysmst.cod",
    "ams": "amsmst.cod",
}
# Y/N flag fields default to N; everything else to zeros (KIS pads numbers with zeros).
_YN = {
    "kospi": {5, 6, 7, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 26, 27, 28, 29,
              30, 34, 35, 36, 38, 39, 40, 45, 55, 56, 57, 58, 67, 68, 69},
    "kosdaq": {5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 29, 30,
               31, 33, 34, 35, 40, 50, 51, 52, 61, 62, 63},
    "konex": {4, 5, 6, 8, 9, 10, 15, 25, 26, 27, 35, 36, 37},
}  # fmt: skip


@dataclass(frozen=True)
class Krx:
    """One KRX record. ``name`` is cut to 40 cp949 bytes the way ``cut`` says."""

    code: str
    isin: str
    name: str
    group: str = "ST"
    preferred: str = "0"
    etp: str = "0"
    spac: bool = False
    halted: bool = False
    liquidation: bool = False
    managed: bool = False
    warning: str = "00"
    lot: int = 1
    base_price: int = 0
    listing_date: str = "00000000"
    cut: str = "chars"  # chars: drop a character that does not fit; bytes: cut at 40 bytes


def krx_line(layout: str, row: Krx, newline: bytes = b"\n") -> bytes:
    name = row.name.encode("cp949")
    if len(name) > 40:
        if row.cut == "bytes":
            name = name[:40]
        else:
            text = row.name
            while len(text.encode("cp949")) > 40:
                text = text[:-1]
            name = text.encode("cp949")
    front = row.code.ljust(9).encode() + row.isin.ljust(12).encode() + name.ljust(40, b" ")
    widths = WIDTHS[layout]
    values = ["N" * w if i in _YN[layout] else "0" * w for i, w in enumerate(widths)]
    pos = POSITIONS[layout]

    def put(field: str, value: str) -> None:
        if field in pos:
            width = widths[pos[field]]
            assert len(value) <= width, (field, value)
            values[pos[field]] = value.rjust(width, "0") if value.isdigit() else value

    put("group", row.group)
    put("etp", row.etp)
    put("spac", "Y" if row.spac else "N")
    put("base_price", str(row.base_price))
    put("lot", str(row.lot))
    put("after_hours_lot", str(row.lot))
    put("halted", "Y" if row.halted else "N")
    put("liquidation", "Y" if row.liquidation else "N")
    put("managed", "Y" if row.managed else "N")
    put("warning", row.warning)
    put("margin", "040")
    put("credit", "Y")
    put("listing_date", row.listing_date)
    put("preferred", row.preferred)
    tail = "".join(values)
    assert [len(v) for v in values] == widths
    assert len(tail) == sum(widths)
    return front + tail.encode("ascii") + newline


def krx_file(layout: str, rows: list[Krx], newline: bytes = b"\n") -> bytes:
    return b"".join(krx_line(layout, r, newline) for r in rows)


@dataclass(frozen=True)
class Cod:
    """One overseas row (24 columns)."""

    exchange: str  # NAS, NYS, AMS
    symbol: str
    name_ko: str
    name_en: str
    kind: str = "2"  # 1 index, 2 stock, 3 ETP, 4 warrant
    etp_class: str = ""
    dr: bool = False
    currency: str = "USD"
    base_price: str = "0"


# KIS exchange code → (national code, exchange id, Korean exchange name). The US ids are those
# seen in public samples; the others are left blank rather than guessed.
_COD_EXCHANGES = {
    "NAS": ("US", "22", "나스닥"),
    "NYS": ("US", "21", "뉴욕"),
    "AMS": ("US", "", "아멕스"),
    "TSE": ("JP", "", "도쿄"),
    "HKS": ("HK", "", "홍콩"),
    "SHS": ("CN", "", "상해"),
    "SZS": ("CN", "", "심천"),
    "HNX": ("VN", "", "하노이"),
    "HSX": ("VN", "", "호치민"),
}


def cod_line(row: Cod, newline: bytes = b"\n") -> bytes:
    country, exid, exname = _COD_EXCHANGES[row.exchange]
    cells = [
        country, exid, row.exchange, exname, row.symbol, row.exchange + row.symbol,
        row.name_ko, row.name_en, row.kind, row.currency, "4", "", row.base_price, "1", "1",
        "0930", "1600", "Y" if row.dr else "N", "", "", "0", "", row.etp_class, "",
    ]  # fmt: skip
    assert len(cells) == 24
    return "\t".join(cells).encode("cp949") + newline


def cod_file(rows: list[Cod], newline: bytes = b"\n") -> bytes:
    return b"".join(cod_line(r, newline) for r in rows)


def isin_check_digit(body: str) -> str:
    """The ISIN check digit (letters as 10..35, then Luhn) of an 11-character body."""
    digits = "".join(str(int(c, 36)) for c in body)
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def krx_isin(code: str) -> str:
    """KRX's ISIN for a common share's six-character code: KR7 + code + 00 + check digit."""
    body = f"KR7{code}00"
    return body + isin_check_digit(body)


def many_krx(count: int, first: int, name: str = "시험종목") -> list[Krx]:
    """``count`` ordinary listings with codes from ``first`` upwards (fixtures only)."""
    codes = [f"{first + i:06d}" for i in range(count)]
    return [Krx(c, krx_isin(c), f"{name}{c}") for c in codes]


def many_cod(exchange: str, count: int, prefix: str = "T") -> list[Cod]:
    return [Cod(exchange, f"{prefix}{i:04d}", f"시험{i}", f"TEST {i} INC") for i in range(count)]


def zipped(member: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(member, date_time=(2026, 1, 2, 7, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, data)
    return out.getvalue()


# ---- real listings for the shipped snapshot ------------------------------------------------------


def _st(code: str, isin: str, name: str, **kw: object) -> Krx:
    return Krx(code, isin, name, **kw)  # type: ignore[arg-type]


KOSPI_MAIN = [
    _st("005930", "KR7005930003", "삼성전자"),
    _st("005935", "KR7005931001", "삼성전자우", preferred="1"),
    _st("000660", "KR7000660001", "SK하이닉스"),
    _st("373220", "KR7373220003", "LG에너지솔루션"),
    _st("207940", "KR7207940008", "삼성바이오로직스"),
    _st("005380", "KR7005380001", "현대차"),
    _st("005385", "KR7005381009", "현대차우", preferred="1"),
    _st("000270", "KR7000270009", "기아"),
    _st("068270", "KR7068270008", "셀트리온"),
    _st("035420", "KR7035420009", "NAVER"),
    _st("035720", "KR7035720002", "카카오"),
    _st("005490", "KR7005490008", "POSCO홀딩스"),
    _st("051910", "KR7051910008", "LG화학"),
    _st("051915", "KR7051911006", "LG화학우", preferred="1"),
    _st("006400", "KR7006400006", "삼성SDI"),
    _st("105560", "KR7105560007", "KB금융"),
    _st("055550", "KR7055550008", "신한지주"),
    _st("086790", "KR7086790003", "하나금융지주"),
    _st("316140", "KR7316140003", "우리금융지주"),
    _st("138040", "KR7138040001", "메리츠금융지주"),
    _st("024110", "KR7024110009", "기업은행"),
    _st("012330", "KR7012330007", "현대모비스"),
    _st("028260", "KR7028260008", "삼성물산"),
    _st("066570", "KR7066570003", "LG전자"),
    _st("003550", "KR7003550001", "LG"),
    _st("034730", "KR7034730002", "SK"),
    _st("017670", "KR7017670001", "SK텔레콤"),
    _st("030200", "KR7030200000", "KT"),
    _st("015760", "KR7015760002", "한국전력"),
    _st("032830", "KR7032830002", "삼성생명"),
    _st("000810", "KR7000810002", "삼성화재"),
    _st("009150", "KR7009150004", "삼성전기"),
    _st("018260", "KR7018260000", "삼성에스디에스"),
    _st("010130", "KR7010130003", "고려아연"),
    _st("012450", "KR7012450003", "한화에어로스페이스"),
    _st("329180", "KR7329180004", "HD현대중공업"),
    _st("009540", "KR7009540006", "HD한국조선해양"),
    _st("042660", "KR7042660001", "한화오션"),
    _st("259960", "KR7259960003", "크래프톤"),
    _st("352820", "KR7352820005", "하이브"),
    _st("323410", "KR7323410001", "카카오뱅크"),
    _st("011200", "KR7011200003", "HMM"),
    _st("003670", "KR7003670007", "포스코퓨처엠"),
    _st("096770", "KR7096770003", "SK이노베이션"),
    _st("010950", "KR7010950004", "S-Oil"),
    _st("033780", "KR7033780008", "KT&G"),
    _st("034020", "KR7034020008", "두산에너빌리티"),
    _st("000100", "KR7000100008", "유한양행"),
    _st("402340", "KR7402340004", "SK스퀘어"),
    _st("047050", "KR7047050000", "포스코인터내셔널"),
    _st("069500", "KR7069500007", "KODEX 200", group="EF", etp="2"),
    _st("102110", "KR7102110004", "TIGER 200", group="EF", etp="2"),
    _st("122630", "KR7122630007", "KODEX 레버리지", group="EF", etp="2"),
    _st("114800", "KR7114800006", "KODEX 인버스", group="EF", etp="2"),
    _st("252670", "KR7252670005", "KODEX 200선물인버스2X", group="EF", etp="2"),
    _st("360750", "KR7360750004", "TIGER 미국S&P500", group="EF", etp="2"),
    _st("133690", "KR7133690008", "TIGER 미국나스닥100", group="EF", etp="2"),
    _st("330590", "KR7330590001", "롯데리츠", group="RT"),
    _st("088980", "KR7088980008", "맥쿼리인프라", group="IF"),
]
KOSDAQ_MAIN = [
    _st("247540", "KR7247540008", "에코프로비엠"),
    _st("086520", "KR7086520004", "에코프로"),
    _st("196170", "KR7196170005", "알테오젠"),
    _st("028300", "KR7028300002", "HLB"),
    _st("263750", "KR7263750002", "펄어비스"),
    _st("293490", "KR7293490009", "카카오게임즈"),
    _st("035900", "KR7035900000", "JYP Ent."),
    _st("041510", "KR7041510009", "에스엠"),
    _st("145020", "KR7145020004", "휴젤"),
    _st("058470", "KR7058470006", "리노공업"),
    _st("357780", "KR7357780006", "솔브레인"),
    _st("039030", "KR7039030002", "이오테크닉스"),
    _st("214150", "KR7214150005", "클래시스"),
    _st("277810", "KR7277810008", "레인보우로보틱스"),
    _st("240810", "KR7240810002", "원익IPS"),
    _st("112040", "KR7112040001", "위메이드"),
    _st("068760", "KR7068760008", "셀트리온제약"),
    _st("403870", "KR7403870009", "HPSP"),
    _st("348370", "KR7348370008", "엔켐"),
]


def _etf(exchange: str, symbol: str, ko: str, en: str) -> Cod:
    return Cod(exchange, symbol, ko, en, kind="3", etp_class="001")


NASDAQ_MAIN = [
    Cod("NAS", "AAPL", "애플", "APPLE INC"),
    Cod("NAS", "MSFT", "마이크로소프트", "MICROSOFT CORP"),
    Cod("NAS", "NVDA", "엔비디아", "NVIDIA CORP"),
    Cod("NAS", "AMZN", "아마존닷컴", "AMAZON.COM INC"),
    Cod("NAS", "GOOGL", "알파벳 A", "ALPHABET INC-CL A"),
    Cod("NAS", "GOOG", "알파벳 C", "ALPHABET INC-CL C"),
    Cod("NAS", "META", "메타 플랫폼스", "META PLATFORMS INC-CLASS A"),
    Cod("NAS", "TSLA", "테슬라", "TESLA INC"),
    Cod("NAS", "AVGO", "브로드컴", "BROADCOM INC"),
    Cod("NAS", "COST", "코스트코 홀세일", "COSTCO WHOLESALE CORP"),
    Cod("NAS", "NFLX", "넷플릭스", "NETFLIX INC"),
    Cod("NAS", "AMD", "AMD", "ADVANCED MICRO DEVICES"),
    Cod("NAS", "ADBE", "어도비", "ADOBE INC"),
    Cod("NAS", "PEP", "펩시코", "PEPSICO INC"),
    Cod("NAS", "CSCO", "시스코 시스템즈", "CISCO SYSTEMS INC"),
    Cod("NAS", "INTC", "인텔", "INTEL CORP"),
    Cod("NAS", "QCOM", "퀄컴", "QUALCOMM INC"),
    Cod("NAS", "TXN", "텍사스 인스트루먼트", "TEXAS INSTRUMENTS INC"),
    Cod("NAS", "AMAT", "어플라이드 머티리얼즈", "APPLIED MATERIALS INC"),
    Cod("NAS", "MU", "마이크론 테크놀로지", "MICRON TECHNOLOGY INC"),
    Cod("NAS", "PLTR", "팔란티어 테크", "PALANTIR TECHNOLOGIES INC-A"),
    Cod("NAS", "PYPL", "페이팔 홀딩스", "PAYPAL HOLDINGS INC"),
    Cod("NAS", "SBUX", "스타벅스", "STARBUCKS CORP"),
    Cod("NAS", "COIN", "코인베이스 글로벌", "COINBASE GLOBAL INC-CLASS A"),
    Cod("NAS", "ASML", "ASML 홀딩", "ASML HOLDING NV-NY REG SHS", dr=True),
    _etf("NAS", "QQQ", "인베스코 QQQ", "INVESCO QQQ TRUST SERIES 1"),
    _etf("NAS", "TQQQ", "프로셰어즈 울트라프로 QQQ", "PROSHARES ULTRAPRO QQQ"),
    _etf("NAS", "SQQQ", "프로셰어즈 울트라프로 숏 QQQ", "PROSHARES ULTRAPRO SHORT QQQ"),
]
NYSE_MAIN = [
    Cod("NYS", "BRK/B", "버크셔 해서웨이 B", "BERKSHIRE HATHAWAY INC-CL B"),
    Cod("NYS", "JPM", "JP모간 체이스", "JPMORGAN CHASE & CO"),
    Cod("NYS", "V", "비자", "VISA INC-CLASS A SHARES"),
    Cod("NYS", "MA", "마스터카드", "MASTERCARD INC - A"),
    Cod("NYS", "JNJ", "존슨앤드존슨", "JOHNSON & JOHNSON"),
    Cod("NYS", "XOM", "엑슨모빌", "EXXON MOBIL CORP"),
    Cod("NYS", "LLY", "일라이 릴리", "ELI LILLY & CO"),
    Cod("NYS", "UNH", "유나이티드헬스 그룹", "UNITEDHEALTH GROUP INC"),
    Cod("NYS", "PG", "프록터 앤드 갬블", "PROCTER & GAMBLE CO/THE"),
    Cod("NYS", "HD", "홈디포", "HOME DEPOT INC"),
    Cod("NYS", "KO", "코카콜라", "COCA-COLA CO/THE"),
    Cod("NYS", "BAC", "뱅크오브아메리카", "BANK OF AMERICA CORP"),
    Cod("NYS", "DIS", "월트 디즈니", "WALT DISNEY CO/THE"),
    Cod("NYS", "ORCL", "오라클", "ORACLE CORP"),
    Cod("NYS", "CRM", "세일즈포스", "SALESFORCE INC"),
    Cod("NYS", "NKE", "나이키", "NIKE INC -CL B"),
    Cod("NYS", "IBM", "IBM", "INTERNATIONAL BUSINESS MACHINES CORP"),
    Cod("NYS", "CVX", "셰브론", "CHEVRON CORP"),
    Cod("NYS", "MCD", "맥도날드", "MCDONALD'S CORP"),
    Cod("NYS", "T", "AT&T", "AT&T INC"),
    Cod("NYS", "TSM", "TSMC", "TAIWAN SEMICONDUCTOR-SP ADR", dr=True),
    Cod("NYS", "BABA", "알리바바 그룹 홀딩", "ALIBABA GROUP HOLDING-SP ADR", dr=True),
]
AMEX_MAIN = [
    _etf("AMS", "SPY", "SPDR S&P500 ETF", "SPDR S&P 500 ETF TRUST"),
    _etf("AMS", "IVV", "아이셰어즈 코어 S&P500 ETF", "ISHARES CORE S&P 500 ETF"),
    _etf("AMS", "VOO", "뱅가드 S&P500 ETF", "VANGUARD S&P 500 ETF"),
    _etf("AMS", "VTI", "뱅가드 토탈 스톡마켓 ETF", "VANGUARD TOTAL STOCK MKT ETF"),
    _etf("AMS", "SCHD", "슈왑 미국 배당주 ETF", "SCHWAB US DIVIDEND EQUITY ETF"),
    _etf("AMS", "DIA", "SPDR 다우존스 ETF", "SPDR DOW JONES INDUSTRIAL AVERAGE ETF"),
    _etf("AMS", "IWM", "아이셰어즈 러셀 2000 ETF", "ISHARES RUSSELL 2000 ETF"),
    _etf("AMS", "GLD", "SPDR 골드 트러스트", "SPDR GOLD SHARES"),
    _etf("AMS", "SOXL", "디렉시온 반도체 3X", "DIREXION DAILY SEMICONDUCTOR BULL 3X"),
]


def snapshot_members() -> dict[str, bytes]:
    """The members of the shipped snapshot, in KIS's layouts and encoding."""
    return {
        "kospi_code.mst": krx_file("kospi", KOSPI_MAIN),
        "kosdaq_code.mst": krx_file("kosdaq", KOSDAQ_MAIN),
        "nasmst.cod": cod_file(NASDAQ_MAIN),
        "nysmst.cod": cod_file(NYSE_MAIN),
        "amsmst.cod": cod_file(AMEX_MAIN),
    }


def write_snapshot(path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in snapshot_members().items():
            info = zipfile.ZipInfo(member, date_time=(2026, 1, 2, 7, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    path.write_bytes(out.getvalue())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", action="store_true", help="rebuild the shipped snapshot")
    args = parser.parse_args()
    if args.snapshot:
        target = Path(__file__).resolve().parents[2] / "src/yquant/adapters/catalog/snapshot.zip"
        write_snapshot(target)
        print(target)
