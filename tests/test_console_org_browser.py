"""The admin console's organisation and staff pages in headless Chromium, on a real hub (SQLite).

One hub and one logged-in admin browser for the module. Every form is first sent with bad input:
the hub's refusal (the same pydantic rules as the CLI and CSV import) appears beside the field
and nothing is written; then good input is saved and shows in the list.
"""

import pytest

from hub.masterdata import employees, sites
from hub.masterdata.fields import EmployeeIn, SitePatch
from tests.browser import ServedApp, browser_factory, chromium, chromium_available, wait_for  # noqa: F401
from tests.hub_api_kit import HubApi, seed_org
from tests.hub_db import sqlite_engine
from tests.test_dashboard_browser import WINDOW, fill, log_in, open_page, rows

pytestmark = pytest.mark.browser
By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium is not installed").By
Select = pytest.importorskip("selenium.webdriver.support.ui", reason="selenium is not installed").Select
Keys = pytest.importorskip("selenium.webdriver.common.keys", reason="selenium is not installed").Keys


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """(driver logged in as admin, HubApi) on a hub with seed_org, two placed sites and 120 more staff."""
    why = chromium_available()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.mktemp("console")
    api = HubApi(root, sqlite_engine(root))
    with api.sessions.begin() as session:
        seed_org(session)
        sites.update_site(session, "S-PHC1", SitePatch(lat=26.8467, lon=80.9462, radius_m=150))
        sites.update_site(session, "S-PHC2", SitePatch(lat=26.8500, lon=80.9500, radius_m=100))
        for n in range(1, 121):
            employees.create_employee(session, EmployeeIn(employee_id=f"H{1000 + n}", name=f"Worker {n:03d}",
                                                          home_site_id="S-PHC1", unit_id="PHC-1"))
    one_time = api.add_user("root", "admin")
    with ServedApp(api.app) as served, chromium(window=WINDOW) as driver:
        driver.get(served.url + "/")  # the bare address leads to the dashboard's login
        wait_for(driver, lambda d: d.current_url == served.url + "/dashboard/"
                 and d.execute_script("return document.body.dataset.screen") == "login", message="redirected")
        driver.get(served.url + "/dashboard/no-such-page")  # a friendly page, with a way back
        assert "Page not found" in driver.find_element(By.TAG_NAME, "h2").text
        driver.find_element(By.CSS_SELECTOR, 'a[href="/dashboard/"]').click()
        wait_for(driver, lambda d: d.execute_script("return document.body.dataset.screen") == "login", message="back")
        log_in(driver, served, "root", one_time)
        yield driver, api
    api.close()


def count(api: HubApi, path: str) -> int:
    with api.client(api.token) as client:
        return len(client.get(f"/api/v1{path}").json()["items"])


def field_error(driver, name: str) -> str:
    box = driver.find_element(By.ID, f"org-{name}-error")
    return box.text if box.is_displayed() else ""


def submit_org(driver) -> None:
    driver.find_element(By.CSS_SELECTOR, "#org-form button[type=submit]").click()


def wait_error(driver, name: str) -> str:
    return wait_for(driver, lambda d: field_error(d, name), message=f"error beside {name}")


def test_units_form_refuses_bad_input_beside_the_field_then_saves(console):
    driver, api = console
    assert open_page(driver, "#/org?tab=units") == "ready"
    assert set(rows_by_id(driver)) == {"HEALTH", "PHC-1", "PHC-2", "EDU", "SCH-1"}
    before = count(api, "/org-units")
    fill(driver, "org-unit_id", "X" * 65)  # longer than any id may be
    fill(driver, "org-name", "Block office")
    submit_org(driver)
    assert "64" in wait_error(driver, "unit_id")
    assert field_error(driver, "name") == ""
    assert driver.find_element(By.ID, "org-unit_id").get_attribute("aria-invalid") == "true"
    assert count(api, "/org-units") == before  # nothing written

    fill(driver, "org-unit_id", "BLK-1")
    driver.find_element(By.ID, "org-name").clear()
    submit_org(driver)
    assert wait_error(driver, "name")  # name missing: refused by the hub, shown beside it
    assert count(api, "/org-units") == before

    fill(driver, "org-name", "Block office")
    Select(driver.find_element(By.ID, "org-parent_id")).select_by_value("HEALTH")
    submit_org(driver)
    wait_for(driver, lambda d: "BLK-1" in rows_by_id(d), message="new unit listed")
    assert "Block office" in rows_by_id(driver)["BLK-1"] and "HEALTH" in rows_by_id(driver)["BLK-1"]
    assert count(api, "/org-units") == before + 1


def test_ddo_form(console):
    driver, api = console
    assert open_page(driver, "#/org?tab=ddos") == "ready"
    before = count(api, "/ddos")
    fill(driver, "org-ddo_id", "DDO-B")
    submit_org(driver)
    assert wait_error(driver, "name")
    assert count(api, "/ddos") == before
    fill(driver, "org-name", "Block pay")
    submit_org(driver)
    wait_for(driver, lambda d: "DDO-B" in rows_by_id(d), message="new DDO listed")
    assert count(api, "/ddos") == before + 1


def test_site_form_with_geofence_drawing_and_shift_settings(console):
    driver, api = console
    assert open_page(driver, "#/org?tab=sites") == "ready"
    before = count(api, "/sites")
    fill(driver, "org-site_id", "S-BLK")
    fill(driver, "org-name", "Block HQ")
    fill(driver, "org-lat", "123")      # beyond 90
    fill(driver, "org-lon", "80.9480")
    fill(driver, "org-radius_m", "-5")  # not > 0
    fill(driver, "org-timezone", "Mars/Olympus")
    submit_org(driver)
    assert "90" in wait_error(driver, "lat")
    assert "0" in field_error(driver, "radius_m") and "time zone" in field_error(driver, "timezone")
    assert field_error(driver, "lon") == ""
    assert count(api, "/sites") == before

    fill(driver, "org-lat", "26.8480")
    fill(driver, "org-radius_m", "120")
    fill(driver, "org-timezone", "Asia/Kolkata")
    # the drawing follows the typed coordinates: own circle and both neighbours, nothing fetched
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '#org-map circle.fence-own[data-site="S-BLK"]'),
             message="own circle")
    neighbours = {c.get_attribute("data-site") for c in driver.find_elements(By.CSS_SELECTOR, "#org-map circle.fence-other")}
    assert neighbours == {"S-PHC1", "S-PHC2"}
    own_r = float(driver.find_element(By.CSS_SELECTOR, "#org-map circle.fence-own").get_attribute("r"))
    phc1_r = float(driver.find_element(By.CSS_SELECTOR, '#org-map circle[data-site="S-PHC1"]').get_attribute("r"))
    assert own_r / phc1_r == pytest.approx(120 / 150, rel=0.01)  # one scale for every circle
    driver.execute_script("document.getElementById('org-shift_start').value = '09:30';"
                          "document.getElementById('org-cutoff').value = '11:00';")
    Select(driver.find_element(By.ID, "org-phone_policy")).select_by_value("never")
    submit_org(driver)
    wait_for(driver, lambda d: "S-BLK" in rows_by_id(d), message="new site listed")
    row = rows_by_id(driver)["S-BLK"]
    assert "26.848, 80.948 · 120 m" in row and "09:30" in row and "11:00" in row and "never" in row
    assert count(api, "/sites") == before + 1

    # edit: the cut-off of an existing site; the code cannot change
    driver.find_element(By.CSS_SELECTOR, '#org-table tr[data-id="S-PHC1"] button.edit').click()
    assert driver.find_element(By.ID, "org-site_id").get_attribute("readonly") is not None
    assert driver.find_element(By.ID, "org-lat").get_attribute("value") == "26.8467"
    fill(driver, "org-min_gap_min", "-1")
    submit_org(driver)
    assert wait_error(driver, "min_gap_min")
    fill(driver, "org-min_gap_min", "30")
    driver.execute_script("document.getElementById('org-cutoff').value = '12:30';")
    submit_org(driver)
    wait_for(driver, lambda d: "12:30" in rows_by_id(d).get("S-PHC1", ""), message="cut-off changed")

    # office networks for phone punches: a typo refused beside the field, then a list saved as the hub's list
    driver.find_element(By.CSS_SELECTOR, '#org-table tr[data-id="S-PHC1"] button.edit').click()
    fill(driver, "org-phone_networks", "10.20.0.0/16, 10.0.0.1/8")
    submit_org(driver)
    assert "CIDR" in wait_error(driver, "phone_networks")
    fill(driver, "org-phone_networks", "10.20.0.0/16, 203.0.113.0/28")
    submit_org(driver)

    def saved_networks(_driver):
        with api.client(api.token) as client:
            site = next(s for s in client.get("/api/v1/sites").json()["items"] if s["site_id"] == "S-PHC1")
        return site["phone_networks"] == ["10.20.0.0/16", "203.0.113.0/28"]

    wait_for(driver, saved_networks, message="office networks saved")


def rows_by_id(driver) -> dict[str, str]:
    """Row text by data-id, read in one script call (the table may be redrawn between calls)."""
    return driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#org-table tbody tr[data-id]')]"
        ".map(tr => [tr.dataset.id, tr.innerText]));")


def test_staff_list_searches_and_pages_on_the_server(console):
    driver, _ = console
    assert open_page(driver, "#/staff") == "ready"
    assert "124 staff" in driver.find_element(By.ID, "staff-summary").text  # 4 seeded + 120
    assert len(rows(driver, "staff-table")) == 50
    assert driver.find_element(By.CSS_SELECTOR, "#staff-pager .pager-range").text == "1–50 of 124"
    driver.find_element(By.CSS_SELECTOR, "#staff-pager .pager-next").click()
    wait_for(driver, lambda d: "offset=50" in d.find_element(By.ID, "screen-app").get_attribute("data-route")
             and d.find_element(By.ID, "screen-app").get_attribute("data-state") == "ready", message="page 2")
    assert driver.find_element(By.CSS_SELECTOR, "#staff-pager .pager-range").text == "51–100 of 124"

    fill(driver, "staff-q", "worker 11")
    driver.find_element(By.CSS_SELECTOR, "#page-staff form.search button").click()
    wait_for(driver, lambda d: "q=worker" in d.find_element(By.ID, "screen-app").get_attribute("data-route")
             and d.find_element(By.ID, "screen-app").get_attribute("data-state") == "ready", message="search")
    assert set(rows(driver, "staff-table")) == {f"H{1110 + n}" for n in range(10)}
    assert driver.find_element(By.CSS_SELECTOR, "#staff-pager .pager-next").get_attribute("disabled") is not None

    driver.find_element(By.CSS_SELECTOR, '#staff-table tr[data-employee="H1112"] a').click()
    wait_for(driver, lambda d: "Worker 112 (H1112)" in d.find_element(By.ID, "staff-person").text, message="person")
    person = driver.find_element(By.ID, "staff-person").text
    assert "S-PHC1" in person and "not enrolled yet" in person

    assert open_page(driver, "#/staff?q=nobody-like-this") == "ready"
    assert "Nothing matches" in driver.find_element(By.ID, "staff-table").text


def employee_count(api: HubApi) -> int:
    with api.client(api.token) as client:
        return client.get("/api/v1/employees", params={"limit": 1, "count": "true"}).json()["total"]


def test_import_lists_every_bad_row_writes_nothing_then_accepts_the_fixed_file(console, tmp_path):
    driver, api = console
    assert open_page(driver, "#/import") == "ready"
    header = "staff_number,name,category,home_site,unit,mobile\n"
    bad = tmp_path / "staff.csv"
    bad.write_text(header + "N001,New One,permanent,S-PHC1,PHC-1,\n"
                   "N002,New Two,boss,S-NOWHERE,PHC-1,\n"          # line 3: two reasons
                   "N003,,permanent,S-PHC1,PHC-1,+9112\n")         # line 4: no name, bad mobile
    before = employee_count(api)
    driver.find_element(By.ID, "import-file").send_keys(str(bad))
    driver.find_element(By.ID, "import-upload").click()
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#import-problems tbody tr[data-line]"), message="report")
    problems = {tr.get_attribute("data-line"): tr.text for tr in
                driver.find_elements(By.CSS_SELECTOR, "#import-problems tbody tr[data-line]")}
    assert set(problems) == {"3", "4"}
    assert "N002" in problems["3"] and len(driver.find_elements(By.CSS_SELECTOR, '#import-problems tr[data-line="3"] li')) >= 2
    assert len(driver.find_elements(By.CSS_SELECTOR, '#import-problems tr[data-line="4"] li')) >= 2
    assert "3 rows: 1 good" in driver.find_element(By.ID, "import-summary").text
    assert driver.find_element(By.ID, "import-progress").get_attribute("value") == "100"
    assert employee_count(api) == before  # nothing written on upload

    good = tmp_path / "staff-fixed.csv"
    good.write_text(header + "N001,New One,permanent,S-PHC1,PHC-1,\n"
                    "N002,New Two,contract,S-PHC2,PHC-2,\nN003,New Three,permanent,S-PHC1,PHC-1,+919812345670\n")
    driver.find_element(By.ID, "import-file").clear()
    driver.find_element(By.ID, "import-file").send_keys(str(good))
    driver.find_element(By.ID, "import-upload").click()
    wait_for(driver, lambda d: "Every row is good" in d.find_element(By.ID, "import-problems").text, message="fixed")
    assert employee_count(api) == before
    accept = driver.find_element(By.ID, "import-accept")
    assert accept.text == "Accept and write 3 rows"
    accept.click()
    wait_for(driver, lambda d: d.find_element(By.ID, "import-done").is_displayed(), message="accepted")
    assert "3 new" in driver.find_element(By.ID, "import-done").text
    assert employee_count(api) == before + 3


def text_of(driver, css: str) -> str:
    """An element's text read in one script call (the menu and forms are rebuilt on a language change)."""
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", css)


def test_hindi_labels_from_the_shared_catalogue_and_a_print_stylesheet(console):
    driver, _ = console
    assert open_page(driver, "#/org?tab=sites") == "ready"
    Select(driver.find_element(By.ID, "lang")).select_by_value("hi")
    wait_for(driver, lambda d: text_of(d, '#nav a[data-page="org"]') == "संगठन", message="Hindi menu")
    wait_for(driver, lambda d: "कार्यस्थल कोड" in text_of(d, "#org-form"), message="Hindi form")
    assert driver.execute_script("return document.documentElement.lang") == "hi"
    assert driver.find_element(By.ID, "logout").text == "लॉग आउट"
    Select(driver.find_element(By.ID, "lang")).select_by_value("en")
    wait_for(driver, lambda d: text_of(d, '#nav a[data-page="org"]') == "Organisation", message="English")
    wait_for(driver, lambda d: "Site code" in text_of(d, "#org-form"), message="English form")

    # on paper: the report without menu, filters or buttons
    assert open_page(driver, "#/exceptions?from=2026-04-07&to=2026-04-07") == "ready"
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        shown = driver.execute_script(
            "return ['nav', 'form-exceptions', 'exc-table'].map(id => getComputedStyle(document.getElementById(id)).display)")
        assert shown[:2] == ["none", "none"] and shown[2] != "none"
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_enrolment_from_photos_gives_a_verdict_per_photo(console, faces_dir):
    driver, api = console
    good, no_face = faces_dir / "dev" / "Antonio_Banderas" / "2.jpg", faces_dir / "dev" / "Chan_Gailey" / "2.jpg"
    for photo in (good, no_face):
        if not photo.exists():
            pytest.skip(f"{photo} is not in the shared photos")
    assert open_page(driver, "#/photos?employee_id=NOPE") == "ready"
    driver.find_element(By.ID, "photos-files").send_keys(f"{good}\n{no_face}")
    driver.find_element(By.ID, "photos-send").click()  # an unknown person: said beside the field
    wait_for(driver, lambda d: "NOPE" in text_of(d, "#photos-employee-error"), message="unknown person")
    assert driver.find_elements(By.CSS_SELECTOR, "#photos-results li") == []

    with api.client(api.token) as client:   # the notice was shown and H1001 agreed (tests/test_consent_browser.py)
        assert client.post("/api/v1/employees/H1001/consent", json={"language": "en"}).status_code == 201
    fill(driver, "photos-employee", "H1001")
    driver.find_element(By.ID, "photos-employee").send_keys(Keys.TAB)   # leaving the field shows their consent
    wait_for(driver, lambda d: d.find_element(By.ID, "photos-send").is_enabled(), message="consent on record")
    driver.find_element(By.ID, "photos-send").click()
    wait_for(driver, lambda d: "1 of 2 photos accepted" in text_of(d, "#photos-status"), message="verdicts",
             timeout_s=120)
    verdicts = driver.execute_script("return [...document.querySelectorAll('#photos-results li')]"
                                     ".map(li => [li.dataset.file, li.dataset.verdict, li.innerText])")
    assert [(f, v) for f, v, _ in verdicts] == [("2.jpg", "accepted"), ("2.jpg", "refused")]
    assert "face" in verdicts[1][2].lower()  # the reason: no face found
    assert driver.find_element(By.ID, "photos-progress").get_attribute("value") == "2"
    with api.client(api.token) as client:
        assert client.get("/api/v1/employees/H1001").json()["templates"] == 1


def test_add_and_change_a_person_with_choices_from_the_master_data(console):
    driver, api = console
    assert open_page(driver, "#/staff") == "ready"
    driver.find_element(By.ID, "staff-new").click()
    wait_for(driver, lambda d: d.find_element(By.ID, "screen-app").get_attribute("data-page") == "person"
             and d.find_element(By.ID, "screen-app").get_attribute("data-state") == "ready", message="person form")
    sites = [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#person-home_site_id option")]
    assert {"S-PHC1", "S-PHC2", "S-SCH1"} <= set(sites)
    ddos = [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#person-ddo_id option")]
    assert {"DDO-H", "DDO-E"} <= set(ddos)
    before = employee_count(api)
    fill(driver, "person-employee_id", "P0001")
    fill(driver, "person-mobile", "98123")  # not +91 and ten digits; and no name
    Select(driver.find_element(By.ID, "person-home_site_id")).select_by_value("S-PHC2")
    driver.execute_script("document.getElementById('person-joined_on').value = '2026-04-01';"
                          "document.getElementById('person-left_on').value = '2026-03-01';")  # leaving before joining
    driver.find_element(By.CSS_SELECTOR, "#person-form button[type=submit]").click()
    wait_for(driver, lambda d: "+91" in text_of(d, "#person-mobile-error"), message="mobile refused")
    assert text_of(driver, "#person-name-error")
    assert "before the joining date" in text_of(driver, "#person-left_on-error")
    driver.execute_script("document.getElementById('person-left_on').value = '';")
    assert employee_count(api) == before

    fill(driver, "person-name", "Priya Nair")
    fill(driver, "person-mobile", "+919812300001")
    Select(driver.find_element(By.ID, "person-unit_id")).select_by_value("PHC-2")
    Select(driver.find_element(By.ID, "person-allowed_site_ids")).select_by_value("S-PHC1")
    driver.find_element(By.CSS_SELECTOR, "#person-form button[type=submit]").click()
    wait_for(driver, lambda d: "Priya Nair (P0001)" in text_of(d, "#staff-person"), message="saved person")
    assert "S-PHC1" in text_of(driver, "#staff-person") and "PHC-2" in text_of(driver, "#staff-person")
    assert employee_count(api) == before + 1

    assert open_page(driver, "#/person?id=P0001") == "ready"
    assert driver.find_element(By.ID, "person-employee_id").get_attribute("readonly") is not None
    assert driver.find_element(By.ID, "person-mobile").get_attribute("value") == "+919812300001"
    assert driver.find_element(By.ID, "person-joined_on").get_attribute("value") == "2026-04-01"
    Select(driver.find_element(By.ID, "person-ddo_id")).select_by_value("DDO-H")
    driver.find_element(By.CSS_SELECTOR, "#person-form button[type=submit]").click()
    wait_for(driver, lambda d: "DDO-H" in text_of(d, "#staff-person"), message="changed DDO")


def test_an_empty_hub_says_what_to_do_next_with_a_link_to_the_page_that_does_it(tmp_path):
    """A brand-new hub: no units, no DDOs, no staff. Each page names the next step and links to it."""
    api = HubApi(tmp_path, sqlite_engine(tmp_path))
    one_time = api.add_user("first", "admin")
    with ServedApp(api.app) as served, chromium(window=WINDOW) as driver:
        log_in(driver, served, "first", one_time)
        assert open_page(driver, "#/daily") == "ready"
        assert "no units yet" in text_of(driver, "#daily-empty")
        driver.find_element(By.CSS_SELECTOR, '#daily-empty a[href="#/org"]').click()
        wait_for(driver, lambda d: d.find_element(By.ID, "screen-app").get_attribute("data-page") == "org"
                 and d.find_element(By.ID, "screen-app").get_attribute("data-state") == "ready", message="org page")
        assert "Create a department first" in text_of(driver, "#org-table")
        assert open_page(driver, "#/payroll") == "ready"
        assert driver.find_elements(By.CSS_SELECTOR, '#payroll-empty a[href="#/org?tab=ddos"]')
        assert open_page(driver, "#/staff") == "ready"
        assert "Set up units and duty sites first" in text_of(driver, "#staff-table")
        assert driver.find_elements(By.CSS_SELECTOR, '#staff-table a[href="#/org?tab=units"]')
        assert open_page(driver, "#/today") == "ready"
        assert driver.find_elements(By.CSS_SELECTOR, '#today-table a[href="#/staff"]')
    api.close()


def test_enrolment_from_a_zip_refuses_a_bad_archive_beside_the_field_then_shows_each_verdict(console, faces_dir, tmp_path):
    import zipfile

    driver, api = console
    good, no_face = faces_dir / "dev" / "Barack_Obama" / "1.jpg", faces_dir / "dev" / "Chan_Gailey" / "2.jpg"
    for photo in (good, no_face):
        if not photo.exists():
            pytest.skip(f"{photo} is not in the shared photos")
    assert open_page(driver, "#/photos") == "ready"
    driver.find_element(By.ID, "zip-send").click()  # nothing chosen: said beside the field
    wait_for(driver, lambda d: "ZIP" in text_of(d, "#zip-file-error"), message="choose a file")
    fake = tmp_path / "photos.zip"
    fake.write_text("not a zip at all")
    driver.find_element(By.ID, "zip-file").send_keys(str(fake))
    driver.find_element(By.ID, "zip-send").click()  # the hub refuses the archive: beside the field, nothing written
    wait_for(driver, lambda d: "not a ZIP file" in text_of(d, "#zip-file-error"), message="refused archive")
    assert driver.find_element(By.ID, "zip-file").get_attribute("aria-invalid") == "true"
    with api.client(api.token) as client:
        assert client.get("/api/v1/employees/H1002").json()["templates"] == 0

    with api.client(api.token) as client:   # the notice was shown and H1002 agreed (tests/test_consent_browser.py)
        assert client.post("/api/v1/employees/H1002/consent", json={"language": "hi"}).status_code == 201
    batch = tmp_path / "batch.zip"
    with zipfile.ZipFile(batch, "w") as archive:
        archive.write(good, "H1002/front.jpg")
        archive.write(no_face, "H1002/none.jpg")
        archive.write(good, "NOBODY/front.jpg")
        archive.writestr("../escape.jpg", b"x")
    driver.find_element(By.ID, "zip-file").clear()
    driver.find_element(By.ID, "zip-file").send_keys(str(batch))
    driver.find_element(By.ID, "zip-send").click()
    wait_for(driver, lambda d: "1 photos accepted, 3 refused; 1 people enrolled" in text_of(d, "#zip-status"),
             message="the job's end", timeout_s=180)
    assert text_of(driver, "#zip-file-error") == ""
    verdicts = driver.execute_script("return Object.fromEntries([...document.querySelectorAll('#zip-results li')]"
                                     ".map(li => [li.dataset.file, [li.dataset.verdict, li.innerText]]))")
    assert {f: v for f, (v, _) in verdicts.items()} == {"../escape.jpg": "refused", "H1002/front.jpg": "accepted",
                                                        "H1002/none.jpg": "refused", "NOBODY/front.jpg": "refused"}
    assert "no face" in verdicts["H1002/none.jpg"][1] and "master data" in verdicts["NOBODY/front.jpg"][1]
    bar = driver.find_element(By.ID, "zip-progress")
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("3", "3")
    with api.client(api.token) as client:
        assert client.get("/api/v1/employees/H1002").json()["templates"] == 1


def test_a_10000_row_import_shows_the_hubs_progress_then_every_bad_row_before_anything_is_written(console, tmp_path):
    driver, api = console
    assert open_page(driver, "#/import") == "ready"
    rows = ["staff_number,name,category,home_site,unit,mobile"]
    rows += [f"B{i:05d},Bulk {i},permanent,S-PHC1,PHC-1," for i in range(10_000)]
    rows[2001] = "B02000,Bulk 2000,boss,S-PHC1,PHC-1,12"  # line 2002: two reasons
    rows[9001] = "B09000,,permanent,S-NOWHERE,PHC-1,"     # line 9002: two reasons
    big = tmp_path / "big.csv"
    big.write_text("\n".join(rows) + "\n")
    before = employee_count(api)
    driver.execute_script(  # every status line the page shows, as it changes
        "window.seenStatus = []; new MutationObserver(() => window.seenStatus.push("
        "document.getElementById('import-status').textContent)).observe("
        "document.getElementById('import-status'), {childList: true, characterData: true, subtree: true});")
    driver.find_element(By.ID, "import-file").clear()
    driver.find_element(By.ID, "import-file").send_keys(str(big))
    driver.find_element(By.ID, "import-upload").click()
    wait_for(driver, lambda d: "10000 rows: 9998 good" in text_of(d, "#import-summary"), message="report",
             timeout_s=180)
    lines = {tr.get_attribute("data-line"): len(tr.find_elements(By.TAG_NAME, "li"))
             for tr in driver.find_elements(By.CSS_SELECTOR, "#import-problems tbody tr[data-line]")}
    assert lines == {"2002": 2, "9002": 2}
    assert "Checked 10000 of 10000 rows…" in driver.execute_script("return window.seenStatus")
    assert driver.find_element(By.ID, "import-progress").get_attribute("value") == "100"
    assert employee_count(api) == before  # nothing written yet

    driver.find_element(By.ID, "import-accept").click()
    wait_for(driver, lambda d: d.find_element(By.ID, "import-done").is_displayed(), message="accepted", timeout_s=300)
    assert "9998 new" in text_of(driver, "#import-done")
    assert "Written 9998 of 9998 rows…" in driver.execute_script("return window.seenStatus")
    assert employee_count(api) == before + 9_998


def test_a_persons_page_shows_photos_with_verdicts_recent_punches_phone_and_allowed_sites(console, faces_dir):
    from hub.phone.models import PhoneBinding
    from tests.hub_api_kit import punch_record

    driver, api = console
    good, no_face = faces_dir / "dev" / "Barack_Obama" / "2.jpg", faces_dir / "dev" / "Chan_Gailey" / "2.jpg"
    for photo in (good, no_face):
        if not photo.exists():
            pytest.skip(f"{photo} is not in the shared photos")
    with api.client(api.token) as client:
        assert client.patch("/api/v1/employees/H1003", json={"allowed_site_ids": ["S-PHC2"]}).status_code == 200
        assert client.post("/api/v1/employees/H1003/consent", json={"language": "en"}).status_code == 201
        enrolled = client.post("/api/v1/employees/H1003/photos", files=[
            ("files", ("front.jpg", good.read_bytes(), "image/jpeg")), ("files", ("blank.jpg", no_face.read_bytes(), "image/jpeg"))])
        assert [p["file"] for p in enrolled.json()["accepted"]] == ["front.jpg"]
    with api.sessions.begin() as session:
        session.add_all([punch_record("H1003", "S-PHC1", "09:05"), punch_record("H1003", "S-PHC1", "17:40")])
        session.add(PhoneBinding(employee_id="H1003", token_hash="x" * 64, label="TestPhone/1.0"))
    assert open_page(driver, "#/staff?q=H1003&id=H1003") == "ready"
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#person-photos li"), message="the person's photos")
    photos = driver.execute_script("return [...document.querySelectorAll('#person-photos li')].map(li => "
                                   "[li.dataset.file, li.dataset.verdict, li.innerText, "
                                   "li.querySelector('img') ? li.querySelector('img').naturalWidth : null])")
    assert [(f, v) for f, v, _, _ in photos] == [("front.jpg", "accepted"), ("blank.jpg", "refused")]
    assert "no face found" in photos[1][2]
    wait_for(driver, lambda d: d.execute_script(
        "const i = document.querySelector('#person-photos img'); return i && i.complete && i.naturalWidth"),
        message="the thumbnail loaded")
    assert 0 < driver.execute_script("return document.querySelector('#person-photos img').naturalWidth") <= 160
    assert len(driver.find_elements(By.CSS_SELECTOR, "#person-punches tbody tr[data-punch]")) == 2
    assert "TestPhone/1.0" in text_of(driver, "#person-phone")
    assert driver.find_element(By.ID, "person-phone").get_attribute("data-bound") == "true"
    assert "S-PHC2" in text_of(driver, "#staff-person")

    assert open_page(driver, "#/staff?q=H1004&id=H1004") == "ready"  # nobody enrolled, no punches, no phone
    wait_for(driver, lambda d: "not enrolled" in text_of(d, "#person-photos"), message="empty enrolment")
    assert "No punches yet" in text_of(driver, "#person-punches")
    assert "no phone bound" in text_of(driver, "#person-phone")


def test_bad_input_on_the_remaining_forms_is_refused_visibly_and_writes_nothing(console, tmp_path):
    """The login, an import with no file or a file that is not a staff list, and a person's edit."""
    from hub.accounts.models import AuditEntry
    from sqlalchemy import func, select

    driver, api = console
    base = driver.current_url.split("/dashboard")[0]
    with chromium(window=WINDOW) as other:  # a wrong password: said under the form, no session
        other.get(base + "/dashboard/")
        wait_for(other, lambda d: d.execute_script("return document.body.dataset.screen") == "login", message="login")
        fill(other, "login-user", "root")
        fill(other, "login-password", "not-the-password")
        other.find_element(By.ID, "login-btn").click()
        wait_for(other, lambda d: d.find_element(By.ID, "login-error").is_displayed(), message="refused login")
        assert other.execute_script("return document.body.dataset.screen") == "login"
        assert other.find_element(By.ID, "login-error").text
    with api.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "auth.login_failed", AuditEntry.actor == "root")) >= 1

    before = employee_count(api)
    assert open_page(driver, "#/import") == "ready"
    driver.find_element(By.ID, "import-file").clear()
    driver.find_element(By.ID, "import-upload").click()  # nothing chosen
    wait_for(driver, lambda d: "Choose a CSV" in text_of(d, "#import-error"), message="choose a file")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,full name\n1,Somebody\n")  # not the staff list's columns
    driver.find_element(By.ID, "import-file").send_keys(str(wrong))
    driver.find_element(By.ID, "import-upload").click()
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#import-file-problems li"), message="file problems")
    assert "staff_number" in text_of(driver, "#import-file-problems")
    assert not driver.find_element(By.ID, "import-accept").is_displayed()
    assert employee_count(api) == before

    assert open_page(driver, "#/person?id=H1005") == "ready"  # an edit with a bad mobile and an empty name
    fill(driver, "person-mobile", "12345")
    fill(driver, "person-name", "")
    driver.find_element(By.CSS_SELECTOR, "#person-form button[type=submit]").click()
    wait_for(driver, lambda d: "+91" in text_of(d, "#person-mobile-error"), message="mobile refused")
    with api.client(api.token) as client:
        person = client.get("/api/v1/employees/H1005").json()
    assert (person["name"], person["mobile"]) == ("Worker 005", None)


def test_the_devices_units_and_users_lists_search_and_page(console):
    from hub.devices import registry
    from protocol import signing

    driver, api = console
    with api.sessions.begin() as session:
        for n in range(55):
            registry.register_device(session, f"kiosk-{n:02d}", "S-PHC1" if n % 2 else "S-PHC2",
                                     signing.public_key_b64(signing.generate_private_key()))
    assert open_page(driver, "#/devices") == "ready"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#devices-table tbody tr[data-device]")) == 50
    assert "1–50 of 55" in text_of(driver, "#devices-pager")
    driver.find_element(By.CSS_SELECTOR, "#devices-pager .pager-next").click()
    wait_for(driver, lambda d: "offset=50" in d.find_element(By.ID, "screen-app").get_attribute("data-route")
             and len(d.find_elements(By.CSS_SELECTOR, "#devices-table tbody tr[data-device]")) == 5, message="page 2")
    fill(driver, "devices-q", "kiosk-1")
    driver.find_element(By.ID, "devices-q").submit()
    wait_for(driver, lambda d: "q=kiosk-1" in d.find_element(By.ID, "screen-app").get_attribute("data-route")
             and len(d.find_elements(By.CSS_SELECTOR, "#devices-table tbody tr[data-device]")) == 10, message="search")

    assert open_page(driver, "#/org?tab=units&q=phc") == "ready"
    assert sorted(tr.get_attribute("data-id") for tr in driver.find_elements(By.CSS_SELECTOR, "#org-table tbody tr[data-id]")) \
        == ["PHC-1", "PHC-2"]
    assert open_page(driver, "#/org?tab=units&q=nothing-like-this") == "ready"
    assert "Nothing matches" in text_of(driver, "#org-table")

    assert open_page(driver, "#/users?q=root") == "ready"
    assert [tr.get_attribute("data-user") for tr in driver.find_elements(By.CSS_SELECTOR, "#users-table tbody tr[data-user]")] \
        == ["root"]


def test_a_report_filter_the_hub_refuses_is_marked_beside_its_field(console):
    driver, _ = console
    assert open_page(driver, "#/exceptions?from=2026-04-07&to=2026-04-07") == "ready"
    for name, day in (("from", "2026-04-07"), ("to", "2026-04-01")):   # an end before the start
        driver.execute_script("arguments[0].value = arguments[1]", driver.find_element(By.ID, f"exc-{name}"), day)
    driver.find_element(By.CSS_SELECTOR, "#form-exceptions button[type=submit]").click()
    wait_for(driver, lambda d: "before it starts" in text_of(d, '#page-exceptions p.field-error[data-for="to"]'),
             message="the refusal beside To")
    assert driver.find_element(By.ID, "exc-to").get_attribute("aria-invalid") == "true"
    assert driver.find_element(By.ID, "exc-from").get_attribute("aria-invalid") is None
    assert driver.find_element(By.ID, "page-error").is_displayed()
    assert open_page(driver, "#/exceptions?from=2026-04-01&to=2026-04-07") == "ready"  # fixed: the mark goes
    assert not driver.find_elements(By.CSS_SELECTOR, "#page-exceptions p.field-error[data-for]")
    assert driver.find_element(By.ID, "exc-to").get_attribute("aria-invalid") is None
