"""Parsing master files written in KIS's exact layouts, and refusing the ones that are not."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal

import pytest

from tests.fixtures.catalog import AMEX, FULL_NAME, KONEX, KOSDAQ, KOSPI, NASDAQ, NYSE
from tests.fixtures.masterfiles import Cod, Krx, cod_file, cod_line, krx_file, krx_line, zipped
from yquant.adapters.catalog.download import unzip
from yquant.adapters.catalog.errors import MasterFileError
from yquant.adapters.catalog.parse import parse_master
from yquant.adapters.catalog.sources import MASTER_FILES

KOSPI_FILE, KOSDAQ_FILE, KONEX_FILE = MASTER_FILES["KR"]
NAS_FILE, NYS_FILE, AMS_FILE = MASTER_FILES["US"]


def by_ticker(rows: list) -> dict:
    return {r.ticker: r for r in rows}


def test_kospi_records_give_code_isin_name_and_router_fields() -> None:
    rows = by_ticker(parse_master(KOSPI_FILE, krx_file("kospi", KOSPI)))
    samsung = rows["005930"]
    assert (samsung.market, samsung.exchange, samsung.currency) == ("KR", "KOSPI", "KRW")
    assert samsung.standard_code == "KR7005930003"
    assert samsung.name_ko == "삼성전자"
    assert samsung.security_type == "stock"
    assert samsung.tradable and not samsung.halted
    assert samsung.lot_size == 1
    assert samsung.base_price == Decimal(71000)
    assert samsung.extra["listing_date"] == "19750611"
    assert len(rows) == len(KOSPI)


def test_preferred_etf_etn_spac_and_elw_are_told_apart() -> None:
    rows = by_ticker(parse_master(KOSPI_FILE, krx_file("kospi", KOSPI)))
    assert rows["005935"].security_type == "preferred"
    assert rows["005935"].standard_code == "KR7005931001"
    assert rows["069500"].security_type == "etf"
    assert rows["530036"].security_type == "etn"
    assert rows["440790"].security_type == "spac"
    assert rows["58F001"].security_type == "elw"
    assert not rows["58F001"].tradable


def test_halted_managed_and_liquidation_flags_are_read() -> None:
    rows = by_ticker(parse_master(KOSPI_FILE, krx_file("kospi", KOSPI)))
    assert rows["000040"].halted
    assert not rows["005930"].halted
    daehan = rows["001070"]
    assert daehan.extra["managed"] and daehan.extra["liquidation"]
    assert daehan.extra["market_warning"] == "03"


def test_a_name_filling_all_40_bytes_does_not_eat_the_tail() -> None:
    rows = by_ticker(parse_master(KOSPI_FILE, krx_file("kospi", KOSPI)))
    assert rows["451000"].name_ko == FULL_NAME
    assert rows["451000"].extra["group_code"] == "MF"
    assert rows["451000"].security_type == "fund"


def test_a_character_that_did_not_fit_the_name_field_is_dropped_whole() -> None:
    rows = by_ticker(parse_master(KOSPI_FILE, krx_file("kospi", KOSPI)))
    # Padded after 39 bytes, or cut in the middle of the 20th syllable: the same 19 syllables.
    assert rows["451010"].name_ko == "K미래에셋맵스아시아퍼시픽부동산공모제일"
    assert rows["451020"].name_ko == "K미래에셋맵스아시아퍼시픽부동산공모제일"
    assert rows["451020"].extra["group_code"] == "MF"


def test_kosdaq_and_konex_tails_have_their_own_widths() -> None:
    kosdaq = by_ticker(parse_master(KOSDAQ_FILE, krx_file("kosdaq", KOSDAQ)))
    konex = by_ticker(parse_master(KONEX_FILE, krx_file("konex", KONEX)))
    assert kosdaq["247540"].exchange == "KOSDAQ"
    assert kosdaq["247540"].base_price == Decimal(180000)
    assert kosdaq["900110"].security_type == "foreign_stock"
    assert kosdaq["900110"].halted
    assert konex["278990"].exchange == "KONEX"
    assert konex["278990"].security_type == "stock"
    assert konex["278990"].extra["group_code"] == "KN"


def test_windows_line_endings_are_accepted() -> None:
    rows = parse_master(KOSPI_FILE, krx_file("kospi", KOSPI, newline=b"\r\n"))
    assert [r.ticker for r in rows] == [r.code for r in KOSPI]


def test_a_kosdaq_file_read_with_the_kospi_layout_is_refused() -> None:
    with pytest.raises(MasterFileError, match="line 1"):
        parse_master(KOSPI_FILE, krx_file("kosdaq", KOSDAQ))


def test_a_utf8_file_is_refused_as_wrong_encoding() -> None:
    whole = [r for r in KOSPI if r.cut == "chars"]
    text = krx_file("kospi", whole).decode("cp949").encode("utf-8")
    with pytest.raises(MasterFileError, match="encoding"):
        parse_master(KOSPI_FILE, text)


def test_a_record_cut_in_the_middle_is_refused() -> None:
    data = krx_file("kospi", KOSPI)
    with pytest.raises(MasterFileError, match="line 12"):
        parse_master(KOSPI_FILE, data[: len(data) - 150])


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(MasterFileError, match="no rows"):
        parse_master(KOSPI_FILE, b"\r\n\n")


def test_one_ticker_twice_with_different_data_is_refused_and_identical_twice_collapses() -> None:
    row = Krx("005930", "KR7005930003", "삼성전자")
    assert len(parse_master(KOSPI_FILE, krx_file("kospi", [row, row]))) == 1
    other = Krx("005930", "KR7005930003", "삼성전자", halted=True)
    with pytest.raises(MasterFileError, match="twice"):
        parse_master(KOSPI_FILE, krx_file("kospi", [row, other]))


def test_overseas_rows_give_symbol_names_type_currency_and_decimals() -> None:
    nas = by_ticker(parse_master(NAS_FILE, cod_file(NASDAQ)))
    nys = by_ticker(parse_master(NYS_FILE, cod_file(NYSE)))
    ams = by_ticker(parse_master(AMS_FILE, cod_file(AMEX)))
    apple = nas["AAPL"]
    assert (apple.market, apple.exchange, apple.currency) == ("US", "NASDAQ", "USD")
    assert (apple.name_ko, apple.name_en) == ("애플", "APPLE INC")
    assert apple.security_type == "stock" and apple.tradable
    assert apple.price_decimals == 4
    assert apple.base_price == Decimal("228.5")
    assert nas["QQQ"].security_type == "etf"
    assert nys["TSM"].security_type == "dr"
    assert nys["BRK/B"].name_en == "BERKSHIRE HATHAWAY INC-CL B"
    assert nys["AAC/WS"].security_type == "warrant" and not nys["AAC/WS"].tradable
    assert ams["SPY"].exchange == "AMEX"


def test_a_header_line_in_an_overseas_file_is_skipped() -> None:
    header = "\t".join(["National code", "Exchange id", "Exchange code"] + ["x"] * 21)
    data = header.encode() + b"\n" + cod_file(NASDAQ)
    assert len(parse_master(NAS_FILE, data)) == len(NASDAQ)


def test_a_first_row_is_only_skipped_when_it_is_a_header() -> None:
    first = cod_line(NASDAQ[0]).replace(b"US\t", b"840\t", 1)  # an unexpected country code
    rows = parse_master(NAS_FILE, first + cod_file(NASDAQ[1:]))
    assert [r.ticker for r in rows] == [c.symbol for c in NASDAQ]


def test_an_overseas_row_cut_short_is_refused() -> None:
    line = cod_line(Cod("NAS", "AAPL", "애플", "APPLE INC"))
    with pytest.raises(MasterFileError, match="line 2"):
        parse_master(NAS_FILE, cod_file(NASDAQ[1:2]) + line[:30] + b"\n")


def test_an_overseas_file_in_utf8_is_refused() -> None:
    data = cod_file(NASDAQ).decode("cp949").encode("utf-8")
    with pytest.raises(MasterFileError, match="encoding"):
        parse_master(NAS_FILE, data)


def test_a_truncated_archive_is_refused() -> None:
    archive = zipped("kospi_code.mst", krx_file("kospi", KOSPI))
    assert unzip(KOSPI_FILE, archive) == krx_file("kospi", KOSPI)
    with pytest.raises(MasterFileError, match="zip"):
        unzip(KOSPI_FILE, archive[: len(archive) * 2 // 3])


def test_an_archive_without_the_expected_file_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("a.mst", krx_line("kospi", KOSPI[0]))
        zf.writestr("b.mst", krx_line("kospi", KOSPI[1]))
    with pytest.raises(MasterFileError, match="not the one file"):
        unzip(KOSPI_FILE, out.getvalue())
    # A single member under another name is KIS's one file.
    assert unzip(KOSPI_FILE, zipped("KOSPI_CODE.MST", b"x")) == b"x"
