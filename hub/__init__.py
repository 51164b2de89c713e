"""The hub: MQTT ingest, database, API and dashboard."""

__version__ = "0.1.0"
