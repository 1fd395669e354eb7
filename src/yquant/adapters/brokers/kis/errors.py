"""KIS error envelopes mapped to our error tree by the reaction they need.

KIS reports failures three ways: the usual body (``rt_cd`` not "0", with ``msg_cd``/``msg1``)
under HTTP 200 or 500, gateway ``EGW…`` codes in that same body, and the token endpoint's own
shape (``error_code``/``error_description``, HTTP 403). Each is classified here:

    retry    KisRateLimitedError (EGW00201), KisTokenError (expired/invalid token after the one
             re-issue, issuance throttled), KisUnavailableError (5xx, EGW00001/2, network;
             for an order only when it was not sent)
    reject   KisRejectedError: a business refusal of one order, with our reason code
    halt     KisConfigurationError: wrong key, secret, domain or TR id; a person must act
    unknown  KisOutcomeUnknownError: an order request was sent and no answer came back, or an
             answer that does not show KIS refused it (see `refused`)

Messages carry the TR id, the KIS code and KIS's text, never a key, secret or token.
"""

from __future__ import annotations

from dataclasses import dataclass

from yquant.domain.reasons import ReasonCode
from yquant.errors import (
    BrokerTokenError,
    BrokerUnavailableError,
    ConfigurationError,
    OrderRejectedError,
    YquantError,
)

RATE_LIMITED = frozenset({"EGW00201"})
TOKEN_INVALID = frozenset({"EGW00121", "EGW00122", "EGW00123"})
TOKEN_THROTTLED = frozenset({"EGW00133"})
HALT = frozenset(
    {"EGW00003", "EGW00004", "EGW00101", "EGW00103", "EGW00105", "EGW00206", "EGW00304", "EGW02004"}
)
TRANSIENT = frozenset({"EGW00001", "EGW00002", "EGW00301"})
ROUTING = frozenset({"EGW00202"})  # reported when the overseas session is closed


_REJECT_BY_CODE = {
    "APBK0952": ReasonCode.INSUFFICIENT_CASH,  # 주문가능금액을 초과 했습니다
    "APBK0918": ReasonCode.MARKET_CLOSED,  # 장운영시간이 아닙니다
    "40580000": ReasonCode.MARKET_CLOSED,  # 모의투자 장종료
    "MCA05918": ReasonCode.UNKNOWN_TICKER,  # 종목코드 오류입니다
    "40070000": ReasonCode.NOT_TRADABLE,  # 매매불가 종목입니다
    "EGW00202": ReasonCode.MARKET_CLOSED,
}
# Codes we have not seen documented are classified by KIS's own words.
_REJECT_BY_TEXT = (
    ("주문가능금액", ReasonCode.INSUFFICIENT_CASH),
    ("매수가능금액", ReasonCode.INSUFFICIENT_CASH),
    ("주문가능수량", ReasonCode.INSUFFICIENT_POSITION),
    ("매도가능수량", ReasonCode.INSUFFICIENT_POSITION),
    ("잔고", ReasonCode.INSUFFICIENT_POSITION),
    ("장운영", ReasonCode.MARKET_CLOSED),
    ("장종료", ReasonCode.MARKET_CLOSED),
    ("장시작전", ReasonCode.MARKET_CLOSED),
    ("주문가능시간", ReasonCode.MARKET_CLOSED),
    ("종목코드", ReasonCode.UNKNOWN_TICKER),
    ("매매불가", ReasonCode.NOT_TRADABLE),
)


@dataclass(frozen=True, slots=True)
class KisFailure:
    """What KIS said, without anything secret."""

    tr_id: str
    http_status: int
    code: str  # msg_cd, or error_code on the token endpoint
    message: str  # msg1 / error_description, stripped

    def describe(self) -> str:
        return f"KIS {self.tr_id or 'token'} HTTP {self.http_status} {self.code}: {self.message}"


class KisRateLimitedError(BrokerUnavailableError):
    """EGW00201 persisted through the bounded backoff; nothing was processed."""


class KisTokenError(BrokerTokenError):
    """No usable access token right now (throttled issuance, or still rejected after re-issue)."""


class KisUnavailableError(BrokerUnavailableError):
    """KIS could not be reached or failed before processing the request."""


class KisStandbyError(KisUnavailableError):
    """This worker does not hold the active role: it calls KIS not at all (the active worker
    alone spends the app key's rate budget); nothing was sent."""


class KisConfigurationError(ConfigurationError):
    """Wrong key, secret, domain or TR id: retrying cannot help."""


class KisRejectedError(OrderRejectedError):
    """A business refusal of one request (insufficient cash, market closed, bad code ...)."""


class KisOutcomeUnknownError(YquantError):
    """An order request left this process and no answer said it was refused: ask, never resend.

    Deliberately on no branch of the tree: an unknown outcome is not a failure. Retrying
    (RetryableError) could send the order twice, it is not refused (RejectedError) and the
    process goes on (HaltError): the order becomes ``unknown`` and the broker is asked."""


def reject_reason(code: str, message: str) -> ReasonCode:
    if code in _REJECT_BY_CODE:
        return _REJECT_BY_CODE[code]
    for needle, reason in _REJECT_BY_TEXT:
        if needle in message:
            return reason
    return ReasonCode.BROKER_REJECTED


def refused(rt_cd: str, failure: KisFailure) -> bool:
    """Whether a failed answer to an order shows that KIS did not process it.

    Only KIS's own refusal does: an ``rt_cd`` other than "0" with the rate limit, a token code,
    a configuration refusal or a business ``msg_cd``. A gateway timeout or server error
    (``EGW00001``/``EGW00002``/``EGW00301``, an EGW code we do not know), a proxy's error page,
    any other status or an empty or unreadable body can come after the order was placed.
    """
    code = failure.code
    if rt_cd in ("", "0"):
        return False
    if code in RATE_LIMITED or code in TOKEN_INVALID or code in TOKEN_THROTTLED:
        return True
    if _halts(failure) or code in _REJECT_BY_CODE:
        return True
    return bool(code) and not code.startswith("EGW")


def classify(failure: KisFailure) -> YquantError:
    """The exception for a failed KIS response (the caller handles retries first)."""
    text = failure.describe()
    code = failure.code
    if code in RATE_LIMITED:
        return KisRateLimitedError(text)
    if code in TOKEN_INVALID or code in TOKEN_THROTTLED:
        return KisTokenError(text)
    if _halts(failure):
        return KisConfigurationError(text)
    gateway_level = code.startswith("EGW") and code not in _REJECT_BY_CODE
    if code in TRANSIENT or gateway_level or (failure.http_status >= 500 and not code):
        return KisUnavailableError(text)
    return KisRejectedError(reject_reason(code, failure.message), text)


def _halts(failure: KisFailure) -> bool:
    message = failure.message
    return failure.code in HALT or "모의투자 TR" in message or "실전투자 도메인" in message
