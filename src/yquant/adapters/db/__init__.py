"""The system-of-record database (SQLite embedded, MariaDB in production) and the local journal."""
