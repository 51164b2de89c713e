"""Device identity, hub registration, broker credentials and SD-card images."""
