"""Notification channels: Discord webhooks and the Telegram Bot API (clients), and local fakes
of both services that speak their wire format (for tests and for trying yQuant without accounts).
"""
