"""An office set up from nothing, the way an admin does it, in headless Chromium.

Real parts throughout: `hub run` on a fresh SQLite database, a real Mosquitto, a real
`kiosk run` on the replay camera showing real photos (../shared/faces), Chromium on the hub's
dashboard. The story, each step checked before the next (each later step needs the earlier ones):

1. first admin login with the one-time password `hub admin create` printed; own password chosen;
2. a unit, two sites and a DDO (Organisation page);
3. an employee CSV with two bad rows: the problems are shown, the file is fixed, accepted (Import page);
4. three people enrolled from photos, one photo refused with its reason (photo page);
5. a fourth person enrolled at the kiosk through the ``enrol`` command (consent, capture, signed
   templates), from the device page;
6. the kiosk punches all four (the fourth recognised from the kiosk's own templates);
7. the admin sees the four punches on Today and the kiosk's health charts on its device page.

Registering the kiosk goes through the API with the admin token, as `provision device` does.
"""

from pathlib import Path

import pytest
from PIL import Image

from tests.browser import browser_factory, wait_for  # noqa: F401  (fixture)
from tests.livekit import LiveHub, LiveKiosk, wait_for as wait_until
from tests.test_dashboard_browser import log_in, open_page

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.faces]
By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium is not installed").By
Select = pytest.importorskip("selenium.webdriver.support.ui", reason="selenium is not installed").Select

UNIT, SITES, DDO, DEVICE = "DIST-1", ("S-MAIN", "S-BLOCK"), "DDO-1", "kiosk-main"
# their last photo, the probe, is named under the shipped thresholds (0.46 / 0.08: BENCHMARKS-accuracy-calib.md)
BY_PHOTO = {"DO-001": "Hamid_Karzai", "DO-002": "Pervez_Musharraf", "DO-003": "Atal_Bihari_Vajpayee"}
AT_KIOSK = {"DO-004": "Naomi_Watts"}
WINDOW = (1280, 1000)


def photos(faces_dir: Path, person: str) -> list[Path]:
    return sorted((faces_dir / "dev" / person).glob("*.jpg"))


def link_frames(folder: Path, files: list[Path]) -> Path:
    folder.mkdir()
    for i, photo in enumerate(files):
        (folder / f"{i:02d}-{photo.name}").symlink_to(photo)
    return folder


class Admin:
    """The admin's own session (the browser's cookie), to check what the hub holds after a page said so."""

    def __init__(self, hub: LiveHub, driver) -> None:
        self.url = hub.url + "/api/v1"
        cookie = driver.get_cookie("hub_session")
        assert cookie, "the browser holds no session cookie after login"
        self.headers = {"Cookie": f"hub_session={cookie['value']}"}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        import httpx

        response = httpx.request(method, self.url + path, json=body, headers=self.headers, timeout=120)
        return response.status_code, response.json()


def row_of(driver, css: str) -> tuple[str, str] | None:
    """(data-state, text) of the row, read in one go (the page redraws the table while it polls)."""
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]); return r ? [r.dataset.state, r.innerText] : null", css)


def table_row(driver, table_id: str, row_css: str) -> dict[str, str]:
    """{column header: cell text} of one body row."""
    return driver.execute_script(
        "const t = document.getElementById(arguments[0]);"
        "const heads = [...t.querySelectorAll('thead th')].map(th => th.innerText.trim());"
        "const row = t.querySelector('tbody ' + arguments[1]);"
        "return row ? Object.fromEntries([...row.cells].map((c, i) => [heads[i], c.innerText.trim()])) : {};",
        table_id, row_css)


def save_org(driver, tab: str, record_id: str, fields: dict[str, str]) -> None:
    """Fill the Organisation page's form for ``tab`` and save; wait until the new row is listed."""
    assert open_page(driver, f"#/org?tab={tab}") == "ready"
    for name, value in {f"{tab[:-1]}_id": record_id, **fields}.items():
        control = driver.find_element(By.ID, f"org-{name}")
        if control.tag_name == "select":
            Select(control).select_by_value(value)
        else:
            control.clear()
            control.send_keys(value)
    driver.find_element(By.CSS_SELECTOR, "#org-form button[type=submit]").click()
    wait_for(driver, lambda d: d.execute_script(
        "return !!document.querySelector('#org-table tr[data-id=\"' + arguments[0] + '\"]')", record_id),
        message=f"{record_id} listed on the Organisation page")


def upload_csv(driver, path: Path) -> None:
    """Choose a file on the Import page and send it to the hub to be checked."""
    driver.execute_script("document.getElementById('import-summary').textContent = ''")
    driver.find_element(By.ID, "import-file").send_keys(str(path))
    driver.find_element(By.ID, "import-upload").click()
    wait_for(driver, lambda d: d.execute_script("return document.getElementById('import-summary').innerText"),
             message=f"the report on {path.name}")


def enrol_photos(driver, staff_number: str, files: list[Path]) -> dict[str, tuple[str, str]]:
    """Record the person's consent to the notice shown, then send photos of them on the photo page;
    {file name: (accepted|refused, the line shown)}."""
    assert open_page(driver, f"#/photos?employee_id={staff_number}") == "ready"
    wait_for(driver, lambda d: d.find_elements(By.ID, "photos-consent-record"), message="the notice and its button")
    driver.find_element(By.ID, "photos-consent-record").click()
    wait_for(driver, lambda d: d.execute_script(
        "const s = document.getElementById('photos-consent-status'); return s && s.dataset.state === 'given'"
        " && !document.getElementById('photos-send').disabled"), message=f"consent of {staff_number} on record")
    driver.find_element(By.ID, "photos-files").send_keys("\n".join(str(f) for f in files))
    driver.find_element(By.ID, "photos-send").click()
    return wait_for(driver, lambda d: d.execute_script(
        "const items = [...document.querySelectorAll('#photos-results li')];"
        "if (document.getElementById('photos-send').disabled || items.length < arguments[0]) return null;"
        "return Object.fromEntries(items.map(li => [li.dataset.file, [li.dataset.verdict, li.innerText]]));",
        len(files)), timeout_s=180, message=f"verdicts on the photos of {staff_number}")


def test_an_office_is_set_up_staff_enrolled_and_punches_seen(tmp_path, broker, faces_dir, browser_factory):  # noqa: F811
    hub = LiveHub(tmp_path, broker.port, auth={"cookie_secure": False},
                  enrolment={"photo_dir": str(tmp_path / "photos")},
                  commands={"poll_s": 0.5, "enrol_frames": 3, "enrol_consent_s": 1.0, "enrol_timeout_s": 120.0})
    hub.cli("init-db")
    one_time = hub.cli("admin", "create", "root").strip().splitlines()[-1]
    hub.start()
    kiosk = None
    try:
        # 1. first login: the one-time password, then the admin's own
        driver = browser_factory(window=WINDOW)
        log_in(driver, hub, "root", one_time)
        admin = Admin(hub, driver)

        # 2. a unit, two sites, a DDO, on the Organisation page
        save_org(driver, "units", UNIT, {"name": "District office", "kind": "office"})
        for site_id, lat in zip(SITES, ("26.85", "26.90")):
            save_org(driver, "sites", site_id, {"name": site_id, "unit_id": UNIT, "lat": lat, "lon": "80.95",
                                                "radius_m": "150"})
        save_org(driver, "ddos", DDO, {"name": "District pay", "unit_id": UNIT})
        assert {s["site_id"] for s in admin.call("GET", "/sites")[1]["items"]} == set(SITES)

        # 3. a CSV with two bad rows on the Import page: the problems are shown, the file fixed, accepted
        people = {**BY_PHOTO, **AT_KIOSK}
        good = [f"{sid},{name.replace('_', ' ')},permanent,S-MAIN,{UNIT},{DDO}" for sid, name in people.items()]
        header = "staff_number,name,category,home_site,unit,ddo"
        bad = [f"DO-005,Ravi Kumar,permanent,S-NOWHERE,{UNIT},{DDO}", f"DO-006,,permanent,S-BLOCK,{UNIT},{DDO}"]
        fixed = [f"DO-005,Ravi Kumar,permanent,S-BLOCK,{UNIT},{DDO}", f"DO-006,Sita Devi,permanent,S-BLOCK,{UNIT},{DDO}"]
        (tmp_path / "staff.csv").write_text("\n".join([header, *good, *bad]) + "\n")
        (tmp_path / "staff-fixed.csv").write_text("\n".join([header, *good, *fixed]) + "\n")
        assert open_page(driver, "#/import") == "ready"
        upload_csv(driver, tmp_path / "staff.csv")
        problems = wait_for(driver, lambda d: d.execute_script(
            "return [...document.querySelectorAll('#import-problems tbody tr[data-line]')].map(r => r.innerText)"),
            message="the bad rows listed")
        assert len(problems) == 2 and "DO-005" in problems[0] and "S-NOWHERE" in problems[0] and "DO-006" in problems[1]
        assert admin.call("GET", "/employees")[1]["items"] == []     # nothing written before the accept
        upload_csv(driver, tmp_path / "staff-fixed.csv")
        wait_for(driver, lambda d: d.execute_script(
            "const b = document.getElementById('import-accept'); return !b.hidden && "
            "!document.querySelector('#import-problems tbody tr[data-line]')"), message="a clean report")
        driver.find_element(By.ID, "import-accept").click()
        done = wait_for(driver, lambda d: d.execute_script(
            "const p = document.getElementById('import-done'); return p.hidden ? '' : p.innerText"), message="accepted")
        assert "6" in done
        assert len(admin.call("GET", "/employees")[1]["items"]) == 6

        # 4. three people enrolled on the photo page; a photo with a face too small is refused, saying why
        for staff_number, person in BY_PHOTO.items():
            files = photos(faces_dir, person)[:-1]
            if staff_number == "DO-001":
                small = Image.open(photos(faces_dir, person)[0]).convert("RGB")
                small.thumbnail((60, 60))
                small.save(tmp_path / "far-away.jpg", "JPEG")
                files = [*files, tmp_path / "far-away.jpg"]
            verdicts = enrol_photos(driver, staff_number, files)
            accepted = [f for f, (v, _) in verdicts.items() if v == "accepted"]
            assert sorted(accepted) == sorted(p.name for p in photos(faces_dir, person)[:-1]), verdicts
            if staff_number == "DO-001":
                assert verdicts["far-away.jpg"][0] == "refused" and "small" in verdicts["far-away.jpg"][1]

        # 5. the kiosk (registered as `provision device` does) shows the fourth person; enrol from the device page
        [(kiosk_staff, kiosk_person)] = AT_KIOSK.items()
        kiosk = LiveKiosk(tmp_path, hub, broker.port, DEVICE, "S-MAIN",
                          link_frames(tmp_path / "at-kiosk", photos(faces_dir, kiosk_person)))
        assert hub.api.post("/api/v1/devices", json={"device_id": DEVICE, "site_id": "S-MAIN",
                                                     "public_key": kiosk.public_key}).status_code == 201
        kiosk.start()
        wait_until(lambda: hub.api.get("/api/v1/devices").json()["items"][0]["state"] == "online",
                   "the kiosk online", logs=(kiosk.log_file,))
        assert open_page(driver, f"#/device?id={DEVICE}") == "ready"
        driver.find_element(By.ID, "device-enrol-employee_id").send_keys(kiosk_staff)
        driver.find_element(By.CSS_SELECTOR, "#device-enrol button[type=submit]").click()
        state, text = wait_for(driver, lambda d: (r := row_of(d, '#device-commands tr[data-name="enrol"]'))
                               and r[0] in ("ok", "failed") and r, timeout_s=180,
                               message="the enrol command's result on the device page")
        assert state == "ok", text
        assert "3 templates added" in text and kiosk_staff in text

        # 6. the kiosk punches the person it enrolled, then (next run, other people in front) the other three
        def punched() -> set[str]:
            return {p["employee_id"] for p in hub.api.get("/api/v1/punches", params={"limit": 100}).json()["items"]}

        wait_until(lambda: kiosk_staff in punched(), "a punch of the person enrolled at the kiosk",
                   timeout_s=180, logs=(kiosk.log_file, hub.log_file))
        kiosk.stop()
        kiosk.show(link_frames(tmp_path / "probes", [photos(faces_dir, p)[-1] for p in BY_PHOTO.values()]),
                   repeat=8)
        kiosk.start()
        wait_until(lambda: punched() == set(people), "punches of all four", timeout_s=240,
                   logs=(kiosk.log_file, hub.log_file))

        # 7. Today shows the four punches; the device page draws the kiosk's health. The page is opened
        # afresh: the dashboard takes the hub's day at login, and before any site existed that day was UTC's.
        driver.refresh()
        wait_for(driver, lambda d: d.execute_script("return document.body.dataset.screen") == "app", message="app")
        assert open_page(driver, "#/today") == "ready"
        today = table_row(driver, "today-table", f'tr[data-unit="{UNIT}"]')
        assert today["Employees"] == "6" and int(today["Present"]) + int(today["Late"]) == 4, today
        assert open_page(driver, f"#/device?id={DEVICE}") == "ready"
        charts = {f.get_attribute("data-series"): int(f.get_attribute("data-points"))
                  for f in driver.find_elements(By.CSS_SELECTOR, "#device-charts figure")}
        assert charts["clock_skew_s"] > 0 and charts["outbox_depth"] > 0, charts
    finally:
        if kiosk is not None:
            kiosk.stop()
        hub.stop()
