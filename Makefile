# The two commands of the README: `make demo` and `make test`.
# Everything they need is installed from here, so a fresh clone works.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
FACES ?=
SYSTEM_PACKAGES := python3-venv:venv mosquitto:mosquitto mtools:mcopy fdisk:sfdisk dosfstools:mkfs.vfat systemd:systemd-analyze chromium:chromium chromium-driver:chromedriver e2fsprogs:debugfs \
	fonts-noto-core:/usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf espeak-ng:espeak-ng alsa-utils:aplay

.PHONY: demo test venv system clean voices

system:
	@devtools/ensure_system.sh $(SYSTEM_PACKAGES)

# The stamp depends on pyproject.toml, so a changed dependency list reinstalls.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[kiosk,hub,dev,provision]'
	@# face_recognition declares `dlib` (a source build); its real dependencies
	@# are installed above, so it goes in without them. Used by benchmarks as
	@# the naive baseline only.
	$(PIP) install --quiet --no-deps 'face_recognition==1.3.0'
	touch $@

venv: system $(VENV)/.installed

demo: venv
	$(PY) -m devtools.demo $(if $(FACES),--faces "$(FACES)") $(if $(KEEP),--keep)

# The suite runs in TEST_WORKERS processes, a test file per process at a time (module fixtures
# stay shared; every test has its own broker, hub, ports and temporary folder). Most of a test's
# time is spent waiting on brokers, hubs and browsers, so three workers keep two cores busy
# (1,860 tests: 16.5 min on 2 cores; in one process the 1,600 of Dec 3 took 23.6).
# `make test TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= 3

test: venv
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

# The kiosk's voice clips for Hindi and English (kiosk/voice/clips.py); provisioning makes them on the Pi.
voices: venv
	$(VENV)/bin/kiosk voices build --out voices --lang hi --lang en

clean:
	rm -rf $(VENV) demo-state demo-screens voices .pytest_cache
