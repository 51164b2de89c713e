"""The mails and SMS texts of the scheduled reports.

A defaulter mail names the unit, the day and the count in its subject, lists
the defaulters in the body and attaches them as CSV (for a spreadsheet). The
muster mail attaches the DDO's muster roll in the configured formats. SMS
texts carry counts and staff numbers only, never names (SMS gateways log
what they carry) and stay within a few SMS parts.
"""

from collections.abc import Sequence
from email.message import EmailMessage

from hub.delivery.defaulters import DefaulterList
from hub.reports import export
from hub.reports.files import RenderedFile

SMS_MAX_CHARS = 300
BODY_MAX_NAMES = 200


def _mail(sender: str, to: Sequence[str], subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, ", ".join(to), subject
    message.set_content(body)
    return message


def defaulter_rows(found: DefaulterList) -> list[list[str]]:
    rows = []
    for pd in found.defaulters:
        r = pd.days[0]
        rows.append([*export.person_cells(pd.person), "no punch" if r.in_at is None else f"in {export.hhmm(r.in_at)}"])
    return rows


def defaulter_mail(found: DefaulterList, *, sender: str, to: Sequence[str]) -> EmailMessage:
    n = len(found.defaulters)
    subject = f"Defaulters {found.unit_id} {found.day.isoformat()}: {n} of {found.employees} not in by the cut-off"
    lines = [f"Unit {found.unit_id} (and the units below it), {found.day:%A %d %B %Y}.",
             f"{n} of {found.employees} employees had not punched in by their site's cut-off.", ""]
    rows = defaulter_rows(found)
    lines += [f"{row[0]}  {row[1]}  ({row[2]})  {row[4]}" for row in rows[:BODY_MAX_NAMES]]
    if n > BODY_MAX_NAMES:
        lines.append(f"... and {n - BODY_MAX_NAMES} more: see the attached CSV.")
    message = _mail(sender, to, subject, "\n".join(lines) + "\n")
    csv_bytes = export.to_csv([*export.PERSON_HEADER, "punch"], rows)
    message.add_attachment(csv_bytes, maintype="text", subtype="csv",
                           filename=f"defaulters-{found.unit_id}-{found.day.isoformat()}.csv")
    return message


def defaulter_sms(found: DefaulterList) -> str:
    ids = " ".join(pd.person.employee_id for pd in found.defaulters)
    text = f"Attendance {found.unit_id} {found.day:%d-%m}: {len(found.defaulters)}/{found.employees} not in by cut-off"
    if ids:
        text += f": {ids}"
    return text if len(text) <= SMS_MAX_CHARS else text[:SMS_MAX_CHARS - 1] + "…"


def muster_mail(ddo_id: str, month: str, employees: int, files: Sequence[tuple[str, RenderedFile]], *,
                sender: str, to: Sequence[str]) -> EmailMessage:
    subject = f"Muster roll {ddo_id} {month} ({employees} employees)"
    body = (f"The attendance muster roll of {month} for DDO {ddo_id}: {employees} employees, "
            f"with each day's status and the present days used for pay (half days count 0.5).\n"
            "Attached: " + ", ".join(name for name, _ in files) + ".\n")
    message = _mail(sender, to, subject, body)
    for name, rendered in files:
        maintype, _, subtype = rendered.media_type.partition("/")
        message.add_attachment(rendered.read_all(), maintype=maintype, subtype=subtype.split(";")[0], filename=name)
    return message
