# The two commands of the README:
#   make run    set up everything (creates .venv if missing) and run the main job end to end:
#               list the data, cache features, train + evaluate the quickstart recipe, export it as a bundle,
#               analyse a real clip with that bundle
#   make test   set up everything and run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
# The corpora: ../shared/datasets when it exists (CI, the dev machines), else data/.
DEEPEAR_DATA  ?= $(shell if [ -d ../shared/datasets ]; then echo ../shared/datasets; else echo data; fi)
DEEPEAR_CACHE ?= $(CURDIR)/.cache
export DEEPEAR_DATA DEEPEAR_CACHE
# Every pip call below resolves torch through constraints.txt (torch==2.13.0, CPU build).
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt

.PHONY: setup run test clean
setup: $(VENV)/.deepear-installed

$(VENV)/.deepear-installed: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt "torch==2.13.0"
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	@touch $@

run: setup
	$(VENV)/bin/deepear data list
	$(VENV)/bin/deepear data cache
	$(VENV)/bin/deepear train recipes/quickstart.yaml
	$(VENV)/bin/deepear eval runs/quickstart/0 --confusion
	$(VENV)/bin/deepear export runs/quickstart/0 --out exported/quickstart --int8 --target watch-m4
	$(VENV)/bin/deepear analyze $(DEEPEAR_DATA)/ravdess/Actor_01/03-01-05-02-01-01-01.flac --bundle exported/quickstart

test: setup
	$(PY) -m pytest -q

clean:
	rm -rf .cache runs build *.egg-info exported/quickstart
