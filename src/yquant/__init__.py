"""yQuant: TradingView alerts to broker orders for KRX and US stocks."""

__version__ = "0.1.0"
