# Two commands do everything (see README.md):
#   make demo   create .venv, install, and run the quickstart (train, evaluate, export, verify, time, stream)
#   make test   create .venv, install, and run the test suite (TORCH=1 also installs torch for the .pth tests)
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?= -n 2 --dist worksteal -q

.PHONY: install test demo clean

install: $(VENV)/.installed

# OpenVINO Model API (the tests run exports in it) comes after requirements.txt and with --no-deps: it pins OpenCV 4,
# which must not replace requirements.txt's OpenCV 5; its other dependencies are pinned there.
$(VENV)/.installed: requirements.txt pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps openvino-model-api==0.4.7
	$(PY) -m pip install -q --no-deps -e .
	touch $@

test: install
	@if [ "$(TORCH)" = "1" ]; then $(PY) -m pip install -q torch==2.13.0; fi
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; fi; exit $$rc

demo: install
	$(VENV)/bin/vtn-quickstart --workdir runs/demo

clean:
	rm -rf $(VENV) runs
