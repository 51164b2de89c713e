"""The kiosk's screen: states and their catalogue texts, a Pillow renderer, window backends, the display.

``state`` (what to show) -> ``render`` (a picture, pure) -> ``window`` (pygame/SDL full screen on
the Pi, OpenCV, PNG files, nothing); ``display.KioskScreen`` ties them to the decision loop.
"""
