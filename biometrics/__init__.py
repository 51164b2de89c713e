"""Face detection, 128-d encoding and matching, shared by the kiosk and the hub.

The hub enrols and verifies phone selfies with exactly the code a kiosk
matches with, so a threshold means the same thing everywhere.
"""


class BiometricsError(Exception):
    """Root of this package's errors."""


class ImageInvalid(BiometricsError, ValueError):
    """An image file cannot be read or decoded."""
