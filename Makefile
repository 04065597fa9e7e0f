# chatd build targets. `make` builds bin/chatd; `make run` starts the server
# with the built-in defaults (or ARGS, e.g. make run ARGS='-config chatd.toml').

VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X chatd.Version=$(VERSION)
ARGS ?=
# Where build puts the binary (and install takes it from); the tests point
# it at a temporary directory so they never touch the tree's bin/chatd.
BINDIR ?= bin

.PHONY: build run test test-irc deps lint fuzz bench bench-compare bench-cluster install clean

# A static binary: CGO_ENABLED=0 works because the SQLite driver is pure Go.
build:
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BINDIR)/chatd ./cmd/chatd

run: build
	$(BINDIR)/chatd serve $(ARGS)

# What the tests need and a fresh machine may lack (telnet, Chromium,
# staticcheck); installs only what is missing. .ci/run runs the same step.
deps:
	@bash .ci/deps

# -race needs cgo, so this target leaves CGO_ENABLED alone.
test: deps
	go test -race -count=1 -timeout 30m ./...

# irctest's server tests against chatd's IRC listener (docs/irc.md): fails
# below MIN_PASSED passed tests or on any error of the controller. The
# floor is the last full run's count (411, docs/irc.md "Results") less 8
# for irctest's timing noise, so that no change loses ground; issue 22's
# bar is 400, and docs/irc.md lists what still fails and why.
IRCTEST ?= ../shared/irctest
MIN_PASSED ?= 403
test-irc:
	IRCTEST=$(IRCTEST) MIN_PASSED=$(MIN_PASSED) bash contrib/irctest/run.sh

# A short run of each fuzzer over its committed corpus and new inputs. The
# budget is a count of inputs, not a duration: Go 1.26's fuzzing
# coordinator can report "context deadline exceeded" as a failure when a
# -fuzztime duration ends while a worker is busy (golang/go#75804, fixed
# in Go 1.27), which a loaded CI machine hits now and then; a count has no
# deadline to race. 10,000 inputs take 3-15 s per fuzzer here.
FUZZTIME ?= 10000x
fuzz:
	go test -run '^$$' -fuzz '^FuzzLineReader$$' -fuzztime $(FUZZTIME) ./daemon/
	go test -run '^$$' -fuzz '^FuzzCommandParse$$' -fuzztime $(FUZZTIME) ./daemon/
	go test -run '^$$' -fuzz '^FuzzIRCLine$$' -fuzztime $(FUZZTIME) ./daemon/
	go test -run '^$$' -fuzz '^FuzzScanRoomLine$$' -fuzztime $(FUZZTIME) ./cmd/chatbench/
	go test -run '^$$' -fuzz '^FuzzScanJSON$$' -fuzztime $(FUZZTIME) ./cmd/chatbench/

# The Go benchmarks: room fan-out over TCP, the database writes, the line
# reader. Figures depend on the machine; compare runs from one sitting.
bench:
	go test -run '^$$' -bench . -benchtime 2s ./daemon/ ./db/

# chatd and ngircd (or with PEER=ergo ergo; with IRC=sasl also chatd's IRC listener) under one chatbench
# workload, side by side from one run
# (contrib/bench/compare.sh lists the knobs: WORKLOAD, CLIENTS, SENDERS, ...).
bench-compare:
	@WORKLOAD=$(WORKLOAD) CLIENTS=$(CLIENTS) SENDERS=$(SENDERS) MESSAGES=$(MESSAGES) \
	INTERVAL=$(INTERVAL) SOURCES=$(SOURCES) PEER=$(PEER) ARGON2=$(ARGON2) SVG=$(SVG) PROFILE=$(PROFILE) \
	BASELINE=$(BASELINE) TOOL_BASELINE=$(TOOL_BASELINE) LANES=$(LANES) HASHWORKER=$(HASHWORKER) IRC=$(IRC) RUNS=$(RUNS) \
	ERGO=$(ERGO) ACCOUNTS=$(ACCOUNTS) IRCPROFILE=$(IRCPROFILE) SETTINGS='$(SETTINGS)' bash contrib/bench/compare.sh

# One chatd node against three sharing one PostgreSQL database and one room,
# side by side from one run (contrib/bench/cluster.sh lists the knobs).
bench-cluster:
	@WORKLOAD=$(WORKLOAD) CLIENTS=$(CLIENTS) SENDERS=$(SENDERS) MESSAGES=$(MESSAGES) \
	INTERVAL=$(INTERVAL) SVG=$(SVG) bash contrib/bench/cluster.sh

lint: deps
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	PATH="$$PATH:$$(go env GOPATH)/bin" staticcheck ./...

# Install for systemd: the binary, both units and /etc/chatd/chatd.toml
# (from config.example.toml, never over an existing one). PREFIX is where
# the binary goes; DESTDIR stages the whole tree for a package. The unit
# runs $(PREFIX)/bin/chatd.
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
UNITDIR ?= /etc/systemd/system
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/chatd
	install -m 0755 $(BINDIR)/chatd $(DESTDIR)$(PREFIX)/bin/chatd
	sed 's|/usr/local/bin/chatd|$(PREFIX)/bin/chatd|; s|/etc/chatd/chatd.toml|$(SYSCONFDIR)/chatd/chatd.toml|' \
		contrib/chatd.service > $(DESTDIR)$(UNITDIR)/chatd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/chatd.service
	install -m 0644 contrib/chatd.socket $(DESTDIR)$(UNITDIR)/chatd.socket
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/chatd/chatd.toml ]; then \
		echo "kept $(DESTDIR)$(SYSCONFDIR)/chatd/chatd.toml (config.example.toml lists any new keys)"; \
	else \
		install -m 0640 config.example.toml $(DESTDIR)$(SYSCONFDIR)/chatd/chatd.toml; \
		echo "wrote $(DESTDIR)$(SYSCONFDIR)/chatd/chatd.toml"; \
	fi

clean:
	rm -rf bin
