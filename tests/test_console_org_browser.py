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

    fill(driver, "photos-employee", "H1001")
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
