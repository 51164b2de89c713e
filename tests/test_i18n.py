"""The one translation catalogue: every language complete and consistent, served to browsers."""

import json
from pathlib import Path

import pytest

from i18n.catalogue import CATALOGUES, FALLBACK, CatalogueError, available_languages, catalogue, placeholders


def _raw(lang: str) -> dict[str, str]:
    return json.loads((CATALOGUES / f"{lang}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("lang", available_languages())
def test_catalogue_is_sorted_so_merges_and_reviews_stay_readable(lang: str) -> None:
    keys = list(_raw(lang))
    assert keys == sorted(keys), f"{lang}.json: keys out of order"


@pytest.mark.parametrize("lang", [lang for lang in available_languages() if lang != FALLBACK])
def test_every_language_has_every_english_key_with_the_same_placeholders(lang: str) -> None:
    english, other = _raw(FALLBACK), _raw(lang)
    assert sorted(set(english) - set(other)) == [], f"{lang}.json lacks translations"
    assert sorted(set(other) - set(english)) == [], f"{lang}.json has keys English does not"
    wrong = {k: (placeholders(english[k]), placeholders(other[k]))
             for k in english if placeholders(english[k]) != placeholders(other[k])}
    assert wrong == {}


def test_hindi_messages_are_written_in_devanagari() -> None:
    english, hindi = _raw(FALLBACK), _raw("hi")
    copied = [k for k, v in hindi.items() if v == english[k] and any(c.isalpha() for c in v.replace("{", "").replace("}", ""))
              and not placeholders(v)]
    assert copied == [], "hi.json repeats English text"
    assert catalogue("hi").text("common.not_found", what="E1") == "नहीं मिला: E1"


def test_unknown_language_and_missing_key_fall_back_instead_of_failing(tmp_path: Path) -> None:
    assert catalogue("xx").lang == FALLBACK
    assert catalogue("../etc/passwd").lang == FALLBACK
    (tmp_path / "en.json").write_text('{"a.b": "Hello {name}", "a.c": "Only English"}', encoding="utf-8")
    (tmp_path / "mr.json").write_text('{"a.b": "नमस्कार {name}"}', encoding="utf-8")
    marathi = catalogue("mr", tmp_path)
    assert marathi.text("a.b", name="Asha") == "नमस्कार Asha"
    assert marathi.text("a.c") == "Only English"
    assert marathi.text("a.zzz") == "a.zzz"
    assert marathi.text("a.b") == "नमस्कार {name}"  # not filled in: shown as written, never an exception


def test_a_malformed_catalogue_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "en.json").write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(CatalogueError, match="en.json"):
        catalogue("en", tmp_path)


def test_the_hub_serves_each_catalogue_and_the_shared_script(tmp_path: Path) -> None:
    from tests.hub_api_kit import HubApi
    from tests.hub_db import sqlite_engine

    api = HubApi(tmp_path, sqlite_engine(tmp_path))
    client = api.client()
    assert client.get("/i18n/languages.json").json()[0] == "en"
    hindi = client.get("/i18n/hi.json")
    assert hindi.status_code == 200 and hindi.json()["common.search"] == "खोजें"
    assert client.get("/i18n/zz.json").status_code == 404
    script = client.get("/static/common/i18n.js")
    assert script.status_code == 200 and "function t(" in script.text
    assert client.get("/static/common/..%2Fdashboard%2Fapp.js").status_code == 404
    api.close()
