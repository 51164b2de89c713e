"""The translation catalogues for browser pages: GET /i18n/{lang}.json and /static/common/*.js.

The kiosk, the phone page and the dashboard share one catalogue (the top-level ``i18n`` package);
pages fetch their language here instead of carrying a copy of every string in their scripts.
"""

from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import FileResponse, JSONResponse

from hub.api.deps import public
from i18n.catalogue import FALLBACK, available_languages, catalogue

PREFIX = ""
COMMON = Path(__file__).resolve().parents[2] / "static" / "common"
SCRIPT_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

router = APIRouter(tags=["i18n"], dependencies=[Depends(public)])


@router.get("/i18n/languages.json")
def languages() -> list[str]:
    """Languages with a catalogue, English first."""
    return available_languages()


@router.get("/i18n/{lang}.json")
def messages(lang: str) -> JSONResponse:
    """Every message of ``lang`` with English filled in where a translation is still missing."""
    if lang not in available_languages():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no catalogue for language {lang!r}")
    found = catalogue(lang)
    merged = {**catalogue(FALLBACK).messages, **found.messages}
    return JSONResponse(merged, headers={"Cache-Control": "no-cache"})


@router.get("/static/common/{name}", include_in_schema=False)
def common_script(name: str) -> FileResponse:
    """Scripts shared by the phone page and the dashboard (no directory walking: names only)."""
    path = COMMON / name
    if "/" in name or not name.endswith(".js") or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return FileResponse(path, media_type="text/javascript; charset=utf-8", headers=SCRIPT_HEADERS)
