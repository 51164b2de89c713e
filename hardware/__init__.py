"""Drivers behind small interfaces (camera, GPIO), each with a fake for tests.

Pi-only libraries (picamera2, lgpio) are imported inside the adapter that
needs them, so ``import hardware`` works on any machine.
"""
