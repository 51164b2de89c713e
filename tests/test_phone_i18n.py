"""The phone page takes every word from the shared catalogue: no dictionary of its own, no key it lacks."""

import re
from pathlib import Path

from i18n.catalogue import catalogue

PHONE = Path(__file__).resolve().parents[1] / "hub" / "static" / "phone"


def test_the_phone_page_loads_the_shared_helper_and_carries_no_strings_of_its_own():
    html = (PHONE / "index.html").read_text(encoding="utf-8")
    script = (PHONE / "app.js").read_text(encoding="utf-8")
    assert html.index('src="/static/common/i18n.js"') < html.index('src="app.js"')
    assert "const TEXT" not in script and "I18n.load(" in script


def test_every_phone_key_the_page_uses_is_in_both_catalogues():
    html = (PHONE / "index.html").read_text(encoding="utf-8")
    script = "".join((PHONE / name).read_text(encoding="utf-8") for name in ("app.js", "regularisation.js"))
    used = set(re.findall(r'data-i18n="([\w.]+)"', html))
    used |= set(re.findall(r'\bt\("(\w+)"', script)) | set(re.findall(r'\bkey: "(\w+)"', script))
    assert len(used) > 20
    missing = {lang: sorted(k for k in used if not catalogue(lang).has(f"phone.{k}")) for lang in ("en", "hi")}
    assert missing == {"en": [], "hi": []}
