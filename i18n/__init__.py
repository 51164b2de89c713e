"""One translation catalogue for every screen people read: the kiosk, the phone page and the dashboard.

Each language is one JSON file in ``catalogues/`` (``en.json``, ``hi.json``, ...): flat, sorted keys
namespaced by surface (``common.``, ``kiosk.``, ``phone.``, ``dashboard.``) and ``{name}``-style
placeholders. Adding Marathi is adding ``mr.json``; a key missing from it falls back to English.
Python reads it through :mod:`i18n.catalogue`; browsers fetch ``/i18n/<lang>.json`` from the hub
and use ``/static/common/i18n.js``.
"""

from i18n.catalogue import Catalogue, available_languages, catalogue, translate

__all__ = ["Catalogue", "available_languages", "catalogue", "translate"]
