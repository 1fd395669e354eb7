"""Every reason yQuant gives for refusing something, one code each.

A code is what the signal log, the order log, the order queue, the JSON replies and the journal
store, and what operators search the logs by: the values are stable strings, never renamed. The
operator's words for each code live in ``entrypoints/i18n.py`` (its test walks this enum).
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    # ---- the webhook: the request itself ---------------------------------------------------
    BAD_SECRET = "bad_secret"  # noqa: S105 - a reason code, not a secret
    SOURCE_NOT_ALLOWED = "source_not_allowed"
    NOT_FOUND = "not_found"  # an unknown webhook path; a broker with no such order
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    BODY_TOO_LARGE = "body_too_large"
    THROTTLED = "throttled"
    CLIENT_DISCONNECTED = "client_disconnected"
    NOT_RECORDED = "not_recorded"  # neither the database nor the journal took the alert

    # ---- the alert's body ------------------------------------------------------------------
    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    BAD_FIELD = "bad_field"
    BAD_ACTION = "bad_action"
    BAD_QUANTITY = "bad_quantity"
    BAD_PRICE = "bad_price"
    UNKNOWN_EXCHANGE = "unknown_exchange"
    UNRESOLVED_PLACEHOLDER = "unresolved_placeholder"
    STALE = "stale"
    CURRENCY_MISMATCH = "currency_mismatch"
    DUPLICATE = "duplicate"  # a repeat of a recorded signal: answered 200, nothing created
    NOT_REBUILDABLE = "not_rebuildable"  # a stored signal whose fields no longer parse

    # ---- the catalog -------------------------------------------------------------------------
    UNKNOWN_TICKER = "unknown_ticker"
    AMBIGUOUS_TICKER = "ambiguous_ticker"
    NOT_TRADABLE = "not_tradable"

    # ---- the engine, the market and the order queue ------------------------------------------
    STALE_SIGNAL = "stale_signal"
    NO_ACCOUNTS = "no_accounts"
    MARKET_CLOSED = "market_closed"
    PRICE_OUT_OF_BAND = "price_out_of_band"  # a KRX limit outside the daily price band
    QUEUED = "queued"  # not a refusal: decided again at the next open
    HANDED_OVER = "handed_over"  # not a refusal: a standby worker's signal, decided by the active
    QUEUE_EXPIRED = "queue_expired"
    CANCELLED_BY_OPERATOR = "cancelled"  # a queued order the operator withdrew
    CATALOG_REFUSED = "catalog_refused"  # a catalog sync stopped; the stored catalog is kept
    UNKNOWN_ACCOUNT = "unknown_account"
    # One account's broker did not give its figures within engine.account_timeout_s (or failed
    # within engine.account_retry_s before): that account's order is refused, the others go on.
    ACCOUNT_UNAVAILABLE = "account_unavailable"
    BROKER_CONFIG_ERROR = "broker_config_error"  # the broker refused the account's settings
    REJECTED = "rejected"  # refused at release with no more specific reason
    GATEWAY_NOT_RUNNING = "gateway_not_running"

    # ---- risk limits and the kill switch -----------------------------------------------------
    HALTED = "halted"
    REDUCE_ONLY = "reduce_only"
    SAME_DIRECTION = "same_direction"
    ORDER_WORKING = "order_working"
    ORDER_RATE_LIMIT = "order_rate_limit"
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    MAX_OPEN_POSITIONS = "max_open_positions"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_POSITION_SHARE = "max_position_share"
    # notes on an order a limit made smaller
    TRIMMED_TO_MAX_ORDER_NOTIONAL = "trimmed_to_max_order_notional"
    TRIMMED_TO_MAX_POSITION_SHARE = "trimmed_to_max_position_share"

    # ---- sizing (the capped_by_* codes are notes on an order that was made smaller) ----------
    NO_QUANTITY = "no_quantity"
    NO_POSITION = "no_position"
    SHORT_NOT_ALLOWED = "short_not_allowed"  # a cash account cannot open or add to a short
    NO_PRICE = "no_price"
    NO_AMOUNT = "no_amount"
    NO_TARGET = "no_target"
    AT_TARGET = "at_target"
    INSUFFICIENT_CASH = "insufficient_cash"
    BELOW_MINIMUM = "below_minimum"
    CAPPED_BY_CASH = "capped_by_cash"
    CAPPED_BY_HOLDINGS = "capped_by_holdings"  # to what the broker holds
    CAPPED_BY_POSITION = "capped_by_position"  # to the strategy's own position

    # ---- the gateway and the brokers ---------------------------------------------------------
    STALE_ORDER = "stale_order"
    NOT_PLACED = "not_placed"
    BROKER_UNAVAILABLE = "broker_unavailable"
    INSUFFICIENT_POSITION = "insufficient_position"
    BROKER_HALTED = "broker_halted"
    BROKER_REJECTED = "broker_rejected"
    UNSUPPORTED_ORDER = "unsupported_order"

    # ---- cancels, time in force and cancel-replace -------------------------------------------
    # (an order the operator cancels ends with CANCELLED_BY_OPERATOR, "cancelled")
    TTL_EXPIRED = "ttl_expired"  # a limit order cancelled after its strategy's limit_ttl_s
    REPLACED = "replaced"  # cancelled so that a newer order of its strategy replaces it
    REPLACED_ORDER_FILLED = "replaced_order_filled"  # a replacement made smaller (or not sent)
    REPLACE_TIMEOUT = "replace_timeout"  # the order to replace did not end in time: not sent
    CANCEL_REFUSED = "cancel_refused"  # the broker refused the cancel: the order works on
    ALREADY_FINAL = "already_final"  # nothing to cancel: the order had ended
    NOT_ACKNOWLEDGED = "not_acknowledged"  # the broker has not confirmed the order yet

    # ---- liquidation ----------------------------------------------------------------------------
    CONFIRMATION_REQUIRED = "confirmation_required"  # nothing done without a confirmation
    PLAN_CHANGED = "plan_changed"  # the book moved since the plan shown: review it again
    NOT_ACTIVE = "not_active"  # a standby worker sends nothing: use the active one

    # ---- manual approval (yquant.services.approvals) ---------------------------------------------
    APPROVED = "approved"  # not a refusal: a note on an order a person (or the timeout) approved
    APPROVAL_REFUSED = "approval_refused"  # a person rejected the order
    APPROVAL_TIMEOUT = "approval_timeout"  # nobody decided in time; the strategy says reject
    APPROVAL_EXPIRED = "approval_expired"  # approved too long after the decision to act on
    PRICE_MOVED = "price_moved"  # approved, but the price moved beyond the allowed deviation
    NOT_AWAITING_APPROVAL = "not_awaiting_approval"  # already decided (or never held)
    NOT_ALLOWED_TO_APPROVE = "not_allowed_to_approve"  # a Telegram user not on the list
    # not cancelled: the order was never sent, it awaits approval (reject it instead)
    AWAITING_APPROVAL = "awaiting_approval"

    # ---- the kill-switch control (the API answers the code and an English message) -----------
    UNKNOWN_SCOPE = "unknown_scope"
    REASON_REQUIRED = "reason_required"
    REASON_TOO_LONG = "reason_too_long"
    JSON_REQUIRED = "json_required"
    CROSS_ORIGIN = "cross_origin"
    BAD_REQUEST = "bad_request"
    DATABASE_UNAVAILABLE = "database_unavailable"

    # ---- the dashboard: sign-in and its users --------------------------------------------------
    SIGN_IN_REQUIRED = "sign_in_required"
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED_OUT = "locked_out"
    LOGIN_NOT_ALLOWED = "login_not_allowed"  # a Tailscale login outside the allow-list
    CSRF_REFUSED = "csrf_refused"
    BAD_USER_NAME = "bad_user_name"
    WEAK_PASSWORD = "weak_password"  # noqa: S105 - a reason code, not a password
    USER_EXISTS = "user_exists"
    UNKNOWN_USER = "unknown_user"

    # ---- notifications -------------------------------------------------------------------------
    NOTIFY_REFUSED = "notify_refused"  # Discord or Telegram refused a message for good
    # ---- scheduled orders ----------------------------------------------------------------------
    MARKET_HOLIDAY = "market_holiday"  # a weekday the schedule is set for with no session
    OUTSIDE_SESSION = "outside_session"  # a fixed time outside that day's session
    FIRING_LATE = "firing_late"  # more than the grace period past its time: missed, not sent
    FIRING_ERROR = "firing_error"  # the firing broke off (the detail names the error)
    LIQUIDATION_UNAVAILABLE = "liquidation_unavailable"
