"""Report settings: ``HubConfig.attendance`` (working days, holidays, flag thresholds, leave codes) and
``HubConfig.exports`` (how the PDF is printed)."""

from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.attendance.daycode import BUILTIN_CODES, RESERVED, CodeBook, LeaveCode
from hub.attendance.rules import FlagPolicy, WorkCalendar

Weekday = Annotated[int, Field(ge=0, le=6, description="date.weekday(): Monday = 0 ... Sunday = 6")]


class LeaveCodeConfig(BaseModel):
    """A department's own leave or duty code, beside the built-in CL, EL, ML, CO, OD and TR."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[A-Z][A-Z0-9]{0,2}$", description="shown on the muster roll: 1-3 capital "
                      "letters or digits, starting with a letter (e.g. SCL for special casual leave; SCL/2 "
                      "for half a day of it)")
    en: str = Field(min_length=1, max_length=100, description="its meaning in English, for the legend")
    hi: str = Field(min_length=1, max_length=100, description="its meaning in Hindi, for the legend")
    on_duty: bool = Field(False, description="true for duty away from the desk (counts as a day present)")


class AttendanceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    working_weekdays: list[Weekday] = Field(
        [0, 1, 2, 3, 4, 5], description="working weekdays at every site, Monday = 0 (default Monday to Saturday)"
    )
    holidays: list[date] = Field([], description="holidays at every site (YYYY-MM-DD)")
    site_working_weekdays: dict[str, list[Weekday]] = Field(
        {}, description="site id -> that site's own working weekdays, instead of working_weekdays"
    )
    site_holidays: dict[str, list[date]] = Field({}, description="site id -> holidays of that site only")
    low_margin_below: float = Field(0.08, ge=0, description="a punch whose match margin is below this is flagged")
    clock_ahead_s: float = Field(
        300.0, ge=0, description="a punch dated more than this many seconds after the hub received it is flagged"
    )
    leave_codes: list[LeaveCodeConfig] = Field(
        [], description="the department's own leave and duty codes, added to CL, EL, ML, CO (comp-off), "
                        "OD (on duty, tour) and TR (training)")
    hrms_leave_types: list[tuple[str, str]] = Field(
        [("Casual Leave", "CL"), ("Earned Leave", "EL"), ("Privilege Leave", "EL"), ("Sick Leave", "ML"),
         ("Medical Leave", "ML"), ("Compensatory Off", "CO")],
        description="[Frappe HRMS leave type, leave code] pairs, for approved leave pulled from the HRMS; "
                    "applications of other types are reported and not stored")

    @model_validator(mode="after")
    def _codes_are_new(self) -> "AttendanceConfig":
        taken = RESERVED | {c.code for c in BUILTIN_CODES}
        for i, entry in enumerate(self.leave_codes):
            if entry.code in taken:
                raise ValueError(f"leave_codes.{i}.code: {entry.code} is already a code of the muster roll")
            taken = taken | {entry.code}
        known = {c.code for c in BUILTIN_CODES} | {c.code for c in self.leave_codes}
        for leave_type, code in self.hrms_leave_types:
            if code not in known:
                raise ValueError(f"hrms_leave_types.{leave_type}: {code} is not a leave code")
        return self

    def leave_type_codes(self) -> dict[str, str]:
        return dict(self.hrms_leave_types)

    def code_book(self) -> CodeBook:
        return CodeBook((*BUILTIN_CODES, *(LeaveCode(c.code, c.en, c.hi, c.on_duty) for c in self.leave_codes)))

    def calendar(self) -> WorkCalendar:
        return WorkCalendar(
            frozenset(self.working_weekdays),
            frozenset(self.holidays),
            {site: frozenset(days) for site, days in self.site_working_weekdays.items()},
            {site: frozenset(days) for site, days in self.site_holidays.items()},
        )

    def flag_policy(self) -> FlagPolicy:
        return FlagPolicy(self.low_margin_below, self.clock_ahead_s)


NOTO = "/usr/share/fonts/truetype/noto"


class ExportConfig(BaseModel):
    """How reports are printed (meant as ``HubConfig.exports``): the PDF's fonts, rows per page, signatures."""

    model_config = ConfigDict(extra="forbid")

    pdf_rows_per_page: int = Field(20, ge=1, le=20, description="employees on one A4 landscape page of the "
                                   "muster roll PDF (20 fit with the heading, the totals and the signature lines)")
    pdf_font: Path = Field(Path(f"{NOTO}/NotoSans-Regular.ttf"), description="TTF font of the PDF's Latin text "
                           "(Debian package fonts-noto-core)")
    pdf_bold_font: Path = Field(Path(f"{NOTO}/NotoSans-Bold.ttf"), description="bold TTF font of the PDF")
    pdf_script_font: Path = Field(Path(f"{NOTO}/NotoSansDevanagari-Regular.ttf"), description="TTF font for "
                                  "names in Devanagari (Hindi, Marathi, ...), used where pdf_font has no glyph")
    pdf_script_bold_font: Path = Field(Path(f"{NOTO}/NotoSansDevanagari-Bold.ttf"),
                                       description="bold of pdf_script_font")
    signatures: list[str] = Field(
        ["Prepared by", "Checked by (Head of Office)", "Drawing and Disbursing Officer (signature and seal)"],
        description="captions of the signature lines at the foot of every PDF page")


def missing_fonts(config: ExportConfig) -> list[str]:
    """``exports.<key>: <path> is missing`` for each PDF font file that is not there (``hub check-config``)."""
    return [f"exports.{key}: {path} is missing (Debian package fonts-noto-core)"
            for key in ("pdf_font", "pdf_bold_font", "pdf_script_font", "pdf_script_bold_font")
            if not (path := getattr(config, key)).is_file()]
