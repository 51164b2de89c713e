"""The kiosk's voice: short spoken prompts and results in the site's languages, never blocking the camera loop.

``clips`` builds one WAV per fixed message and language with espeak-ng at build time (recorded clips may
replace them); ``sink`` plays WAV bytes (aplay on the Pi, a fake in tests); ``speaker`` turns screen
states into speech on a worker thread, with a volume and quiet hours.
"""
