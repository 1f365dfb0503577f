# rtbench: `make bench` measures, `make test` checks. Both bootstrap .venv on first use, from
# requirements.lock: every Python package at the exact version (and hash) the suite passed with.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
comma  := ,
LOCK   := requirements.lock
LATEST := .venv-latest

.DEFAULT_GOAL := bench
.PHONY: deps install lock test-latest bench calibrate soak report compare test lint format serve demo cluster locust clean monitor monitor-rules

PROFILE ?= default

# CPU pinning, /proc, schedstat and TCP_INFO are Linux's: say so once instead of a traceback.
ifneq ($(shell uname -s),Linux)
$(error rtbench needs Linux (CPU pinning, /proc, schedstat and TCP_INFO), got $(shell uname -s))
endif

$(STAMP): $(LOCK) pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	    echo "error: rtbench needs Python >= 3.11, got $$($(PYTHON) --version 2>&1 || echo no $(PYTHON)) (make PYTHON=python3.12 ...)" >&2; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP) ## create .venv and install rtbench with its dev tools

# quick needs Python only; other profiles run nginx, redis-server or chromium: installed if missing.
bench: $(STAMP) $(if $(filter quick,$(PROFILE)),,deps) ## run a benchmark profile (default: all of Question 1; PROFILE=quick, realworld, full; MONITOR=1: a Prometheus watches it on :9090), then the report
	$(BIN)/python -m scenarios.run --profile $(PROFILE) $(if $(TRANSPORTS),--transports $(TRANSPORTS)) $(if $(MONITOR),--monitor); \
	status=$$?; [ $$status -eq 2 ] || $(BIN)/python -m report results; exit $$status

soak: $(STAMP) ## 30 minutes of broadcast with churn, 10 per transport: RSS slope (MiB/h), open fds, nothing lost
	$(BIN)/python -m scenarios.run --profile soak $(if $(TRANSPORTS),--transports $(TRANSPORTS)); \
	status=$$?; [ $$status -eq 2 ] || $(BIN)/python -m report results; exit $$status

compare: $(STAMP) ## every figure and verdict of two runs side by side, after the machine's drift; fails when a verdict differs: make compare A=results/x B=results/y
	@test -n "$(A)" -a -n "$(B)" || { echo "usage: make compare A=<run folder> B=<run folder>"; exit 2; }
	$(BIN)/python -m report.compare $(A) $(B)

CALIBRATION := results/calibration
calibrate: $(STAMP) deps ## three default runs of this commit, then the rule's false-positive rate on them (~35 min)
	rm -rf $(CALIBRATION)
	for n in 1 2 3; do \
	    $(BIN)/python -m scenarios.run --profile $(PROFILE) --out $(CALIBRATION) || exit 1; \
	    $(BIN)/python -m report $(CALIBRATION)/latest || exit 1; \
	done
	$(BIN)/python -m report.calibrate $(CALIBRATION) --out $(CALIBRATION)/calibration.md

RUN ?= results
LANG_REPORT ?= en
report: $(STAMP) ## charts + report.md + report.html + verdicts.json for a run (default: the latest; LANG_REPORT=fr)
	$(BIN)/python -m report $(RUN) --lang $(LANG_REPORT)

lock: $(STAMP) ## resolve the newest versions pyproject.toml allows into requirements.lock, then run the suite on them
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --generate-hashes \
	    --python-version 3.11 --upgrade --custom-compile-command "make lock" --quiet -o $(LOCK)
	$(MAKE) test

test-latest: deps ## the suite on the newest release of every dependency, in .venv-latest: a moving dependency seen before a user meets it
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[dev]"
	touch $(LATEST)/.installed-stamp
	$(MAKE) lint VENV=$(LATEST)
	$(LATEST)/bin/python -m pytest

lint: $(STAMP) ## ruff + mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy --strict examples

deps: ## the system packages the tests run for real (redis-server, nginx, chromium): installs what is missing
	scripts/system-deps

test: deps lint ## system packages, lint, then the test suite against real servers
	$(BIN)/python -m pytest

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

TRANSPORT ?= ws
PORT ?= 8000
serve: $(STAMP) ## run one server: make serve TRANSPORT=sse PORT=8000
	$(BIN)/python -m servers $(TRANSPORT) --port $(PORT) --log-format text

NODES ?= 2
BROKER ?= redis
cluster: $(STAMP) ## scale-out: redis-server + NODES nodes of TRANSPORT behind nginx; BROKER=memory shows the failure
	$(BIN)/python -m scenarios.run --profile cluster --transports $(TRANSPORT) \
	    --cluster-broker $(BROKER) --cluster-nodes $(NODES); \
	status=$$?; [ $$status -eq 2 ] || $(BIN)/python -m report results; exit $$status

monitor: $(STAMP) deps ## a real Prometheus + Alertmanager on loopback watching NODES (2) TRANSPORT nodes on redis behind nginx, or TARGETS=host:port,... of yours; Ctrl-C stops
	$(BIN)/python -m monitoring $(if $(TARGETS),$(foreach t,$(subst $(comma), ,$(TARGETS)),--target $(t)),--nodes $(NODES) --transport $(TRANSPORT))

monitor-rules: $(STAMP) deps ## promtool: check the alert and recording rules, and run their unit tests
	promtool check rules monitoring/rules/recording.yml monitoring/rules/alerts.yml
	promtool test rules monitoring/rules/tests.yml

demo: $(STAMP) ## live browser demo: one server, all three transports side by side (PORT=8000)
	@echo "rtbench demo: open http://127.0.0.1:$(PORT)/demo/ in a browser (Ctrl-C stops)"
	$(BIN)/python -m servers all --port $(PORT) --config examples/demo.toml --log-format text

USERS ?= 50
locust: $(STAMP) ## Locust web UI against a local server: make locust TRANSPORT=sse (port 8089)
	@echo "server: http://127.0.0.1:$(PORT)  Locust UI: http://127.0.0.1:8089"
	@$(BIN)/python -m servers $(TRANSPORT) --port $(PORT) --log-level warning & server=$$!; \
	trap 'kill $$server 2>/dev/null; wait $$server 2>/dev/null' EXIT INT TERM; \
	sleep 1; \
	$(BIN)/locust -f scenarios/load/locustfiles/chat.py --host http://127.0.0.1:$(PORT) \
	    --users $(USERS) --spawn-rate $(USERS) --web-host 127.0.0.1 \
	    $(if $(filter sse,$(TRANSPORT)),SSEChatUser,$(if $(filter longpoll,$(TRANSPORT)),LongPollChatUser,WebSocketChatUser))

clean:
	rm -rf $(VENV) $(LATEST) .pytest_cache .mypy_cache .ruff_cache .hypothesis
