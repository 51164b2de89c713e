"""Punches in: the MQTT ingest worker and its pool, the hand-over inbox, what is stored or rejected and why."""
