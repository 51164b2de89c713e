"""Retention: how long the hub keeps personal data that is not attendance, and ``hub purge``."""
