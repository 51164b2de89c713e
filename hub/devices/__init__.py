"""Kiosks as the hub knows them: the registry of sites and devices, their health and derived state."""
