"""Tools for developers, tests and the demo (never used by a deployed kiosk or hub)."""
