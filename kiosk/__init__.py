"""The kiosk appliance: capture -> detect -> match -> decide -> outbox -> MQTT."""

__version__ = "0.1.0"
