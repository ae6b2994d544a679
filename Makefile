# Fresh machine: only Python 3.11+ and access to the package registry are needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    := grading-output
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: install demo test release benchmark audit clean

## uv installs what pip would (the same resolution from the same registry) in about 20 s instead of 55, downloading
## and unpacking in parallel; where uv cannot be had or fails (say, a registry only pip is configured for), pip does it.
## Both compile the packages they install, not the kit itself (installed editable). It is compiled here: where
## PYTHONDONTWRITEBYTECODE is set (it is on the machines the kit was measured on), each of the suite's many processes
## would otherwise compile it again (about 0.1 s of CPU each). Checked by hash, not by time: a file rewritten
## unchanged keeps its bytecode, and an edited one is never run stale.
## rfc3987-syntax is removed: jsonschema's optional checker of the "iri" formats, pulled in by jupyter-events'
## jsonschema[format-nongpl], it compiles 38 lark grammars as it is imported (1.6 s of CPU here; 2.2 s in
## python-jsonschema/jsonschema pull request 1521), in every process that imports nbformat: each nbgrader command,
## each notebook kernel that grades, each test process. Nothing here checks those formats; without it jsonschema
## skips them, as it does any format it has no checker for. (tests/test_nbgrader.py, test_notebooks.py and
## test_release.py: 112.6 s of CPU with it, 79.7 s without.)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv && \
	  $(BIN)/python -m uv pip install --quiet --no-cache --compile-bytecode --python $(BIN)/python \
	    -e ".[instructor,test]" || { \
	  echo "install: uv could not install the kit; installing it with pip instead"; \
	  $(BIN)/python -m pip install --quiet --upgrade pip && \
	  $(BIN)/python -m pip install --quiet -e ".[instructor,test]"; }
	$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax
	$(BIN)/python -m compileall -q -j 0 --invalidation-mode checked-hash autograder
	touch $(STAMP)

install: $(STAMP)

## Regenerate exercises/ and solutions/ (modules and notebooks), then grade them on the offline synthetic data.
demo: install
	$(BIN)/python -m autograder release
	$(BIN)/python -m autograder grade solutions --json $(OUT)/solutions.json
	rm -rf $(OUT)/notebooks && mkdir -p $(OUT)/notebooks && cp solutions/*.ipynb $(OUT)/notebooks/
	$(BIN)/python -m autograder grade $(OUT)/notebooks --json $(OUT)/notebooks.json
	$(BIN)/python -m autograder grade exercises --json $(OUT)/exercises.json
	rm -rf $(OUT)/class $(OUT)/class-results && mkdir -p $(OUT)/class/reference $(OUT)/class/stubs
	cp solutions/*.py $(OUT)/class/reference/ && cp exercises/*.py $(OUT)/class/stubs/
	rm -f $(OUT)/class/*/test_*.py
	$(BIN)/python -m autograder grade-all $(OUT)/class --out $(OUT)/class-results --workers 2
	@echo "Gradescope-style results written to $(OUT)/; class feedback and summary in $(OUT)/class-results/"

## The project's own test suite: one test process per core (the nbgrader round trip keeps to one).
## The optional system packages (.ci/system-deps: apt-get, mostly downloads) install while the venv does and the
## suite runs, at the lowest CPU priority (nice 19): unpacking them (xz, dpkg, triggers) takes only the cycles the
## install and the suite leave idle. The one test that uses them (a headless Chromium) waits for
## $$KIT_SYSTEM_DEPS_DONE to exist.
test:
	@deps_log="$$(mktemp)"; deps_done="$$deps_log.done"; \
	{ nice -n 19 bash .ci/system-deps >"$$deps_log" 2>&1; touch "$$deps_done"; } & \
	$(MAKE) --no-print-directory install; status=$$?; \
	if [ $$status -eq 0 ]; then \
	  KIT_SYSTEM_DEPS_DONE="$$deps_done" $(BIN)/python -m pytest -n auto --dist loadgroup --durations=15; status=$$?; \
	fi; \
	wait; cat "$$deps_log"; rm -f "$$deps_log" "$$deps_done"; exit $$status

release: install
	$(BIN)/python -m autograder release

## This tree against the commit before the performance work (issue 16), side by side: about 45 minutes on 2 cores.
benchmark: install
	$(BIN)/python benchmarks/grade_time.py --repeat 3
	$(BIN)/python benchmarks/grade_class.py
	$(BIN)/python benchmarks/calibrate_thresholds.py --seeds 20

## Mutation audit of the hidden graders (about 40 minutes on 2 cores; resumes where it stopped).
audit: install
	$(BIN)/python -m autograder audit all

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache audit-output
