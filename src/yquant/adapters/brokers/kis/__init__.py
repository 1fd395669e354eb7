"""Korea Investment & Securities (KIS) Open API adapter: the production broker.

    client.py     HTTP, common headers, shared token, pacing, error envelopes, paging
    endpoints.py  one function per KIS transaction, TR ids per environment
    schemas.py    every KIS field name, request builders and response parsers
    errors.py     KIS codes mapped to our error tree (retry / reject / halt)
    tokens.py     one access token per app key, shared through the database
    ratelimit.py  per-app-key pacing shared by the worker's processes (Valkey)
    tracking.py   inquiry rows to order states and fills
    notices.py    real-time execution notices over KIS's websocket (approval key, AES, PINGPONG)
    prices.py     tick sizes, US market-order emulation
    broker.py     `KisBroker`, the `Broker` port on one KIS account
    settings.py   `KisSettings`, an account's section of the settings file
    factory.py    `build_kis_broker`: one account wired from its settings

The package itself imports nothing, so `settings.py` (read by the settings model everywhere)
loads without the HTTP, websocket and crypto libraries the broker needs.
"""
