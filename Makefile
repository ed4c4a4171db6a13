# Asset Anchor developer tasks (GNU make).
#
#   make test    run all tests (-race) against a throwaway PostgreSQL cluster
#   make run     start the server (private cluster under ./.assetanchor)
#   make bench   run benchmarks against a durable (fsync on) throwaway cluster
#   make lint    go vet + import-direction check
#   make openapi-check  lint http/openapi.json (Spectral, Redocly) and compile
#                Go clients generated from it (oapi-codegen, ogen); needs node/npm
#   make build   build bin/assetanchor
#   make fuzz    run each Fuzz target in ./http for 20s
#   make browser install what the console's browser test needs (Chromium, axe-core)
#   make console-screenshots  regenerate docs/console-*.png from the browser test

MODULE := github.com/assetanchor/assetanchor

.PHONY: build pg browser run test bench bench-smoke lint openapi-check fuzz console-screenshots

# VERSION names the build in `assetanchor --version` (main.version), beside the
# commit Go stamps in; `make build VERSION=v1.2.0` for a release.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)

build:
	go build -ldflags "-X main.version=$(VERSION)" -o bin/assetanchor ./cmd/assetanchor

# pg makes sure the engines the project runs on are installed: PostgreSQL's
# server binaries (cmd/internal/pgcluster), pgBackRest for the embedded
# cluster's backups (cmd/internal/backup) and PgBouncer for the pooling tests
# (cmd/internal/pgbouncer). As root it installs what is missing from Debian's
# packages; otherwise it says in one line what to install, and only a missing
# PostgreSQL stops it (the others' tests skip, and fail when CI=true).
pg:
	@pkgs=""; \
	if [ -z "$$ASSETANCHOR_PG_BIN" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	    && ! command -v initdb >/dev/null 2>&1; then pkgs="postgresql"; fi; \
	if ! command -v pgbackrest >/dev/null 2>&1; then pkgs="$$pkgs pgbackrest"; fi; \
	if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then pkgs="$$pkgs pgbouncer"; fi; \
	if [ -n "$$pkgs" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "pg: installing$$(printf ' %s' $$pkgs) (apt-get install)"; \
	    out=$$( { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs; } 2>&1 ) \
	      || { printf '%s\n' "$$out" | tail -n 20 >&2; exit 1; }; \
	  else \
	    case " $$pkgs " in \
	    *" postgresql "*) echo "PostgreSQL server binaries are missing: run 'sudo apt-get install$$(printf ' %s' $$pkgs)' (Debian/Ubuntu) or set ASSETANCHOR_PG_BIN" >&2; exit 1 ;; \
	    *) echo "missing$$(printf ' %s' $$pkgs) (backups off, their tests skip): run 'sudo apt-get install$$(printf ' %s' $$pkgs)'" >&2 ;; \
	    esac; \
	  fi; \
	fi

# browser makes sure the audit console's browser test (http/console_browser_test.go)
# can run: Debian's Chromium, installed as root like PostgreSQL (otherwise one
# line says what to install; the test skips, and fails when CI=true), and
# axe-core, pinned in .ci/axe, installed with npm when its lock file changed.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "browser: installing chromium (apt-get install)"; \
	    out=$$( { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } 2>&1 ) \
	      || { printf '%s\n' "$$out" | tail -n 20 >&2; exit 1; }; \
	  else \
	    echo "chromium is missing (the console's browser test skips): run 'sudo apt-get install chromium'" >&2; \
	  fi; \
	fi
	@if [ ! -e .ci/axe/node_modules/.installed ] || [ .ci/axe/package-lock.json -nt .ci/axe/node_modules/.installed ]; then \
	  if command -v npm >/dev/null 2>&1; then \
	    (cd .ci/axe && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed); \
	  else \
	    echo "npm is missing, so axe-core is (the console's browser test skips): install Node.js and npm" >&2; \
	  fi; \
	fi

run: pg
	go run ./cmd/assetanchor serve

test: pg browser
	go run ./cmd/pgtest -- go test -race -count=1 -timeout 25m ./...

# The benchmarks time themselves (fixed-length rounds, see eventstore/bench_test.go
# and http/bench_test.go), so each runs once: -benchtime=1x.
bench: pg
	go run ./cmd/pgtest -durable -- go test -run '^$$' -bench . -benchtime=1x -benchmem -count=1 -timeout 60m ./...

# Every benchmark once at 1% of its load on a throwaway cluster: the figures mean
# nothing, but a benchmark that no longer runs (a schema change its baseline
# missed) fails here rather than at the next `make bench`. CI runs it after test.
bench-smoke: pg
	ASSETANCHOR_BENCH_SCALE=0.01 go run ./cmd/pgtest -- go test -run '^$$' -bench . -benchtime=1x -count=1 -timeout 15m ./...

# Import direction: domain depends on nothing of ours and only on std plus
# uuid/ulid/decimal; commands must not know http or projections; eventstore
# must not know commands, http or projections, and the log itself knows only
# tenantkeys (whose wrapped keys it stores); tenantkeys and blobs know nothing
# of ours; memlog and logtest only eventstore; projections must not know
# commands or http, and the projector must not know the read model's queries
# (projections/readmodel).
lint:
	go vet ./...
	@imports=$$(go list -f '{{.ImportPath}} {{join .Imports " "}}' ./...) || exit 1; \
	printf '%s\n' "$$imports" | awk -v m='$(MODULE)' ' \
	  function under(p, d) { return d == "" ? index(p, m "/") == 1 : (p == m "/" d || index(p, m "/" d "/") == 1) } \
	  function std(p,   a) { split(p, a, "/"); return index(a[1], ".") == 0 } \
	  { \
	    pkg = $$1; \
	    for (i = 2; i <= NF; i++) { \
	      imp = $$i; bad = 0; \
	      if (under(pkg, "domain")) { \
	        bad = !(std(imp) || under(imp, "domain") || imp == "github.com/google/uuid" || \
	                imp == "github.com/oklog/ulid/v2" || imp == "github.com/shopspring/decimal"); \
	      } else if (under(pkg, "commands")) { \
	        bad = under(imp, "http") || under(imp, "projections"); \
	      } else if (pkg == m "/eventstore/tenantkeys" || pkg == m "/eventstore/blobs" || pkg == m "/eventstore/durable") { \
	        bad = under(imp, ""); \
	      } else if (pkg == m "/eventstore/memlog" || pkg == m "/eventstore/logtest") { \
	        bad = under(imp, "") && imp != m "/eventstore"; \
	      } else if (pkg == m "/eventstore") { \
	        bad = under(imp, "") && imp != m "/eventstore/tenantkeys"; \
	      } else if (under(pkg, "eventstore")) { \
	        bad = under(imp, "commands") || under(imp, "http") || under(imp, "projections"); \
	      } else if (pkg == m "/projections") { \
	        bad = under(imp, "commands") || under(imp, "http") || under(imp, "projections/readmodel"); \
	      } else if (under(pkg, "projections")) { \
	        bad = under(imp, "commands") || under(imp, "http"); \
	      } \
	      if (bad) { printf "import direction: %s must not import %s\n", pkg, imp; fail = 1 } \
	    } \
	  } \
	  END { if (fail) exit 1; print "import direction: ok" }'

openapi-check:
	.ci/openapi-check

# The two screenshots of docs/console.md, taken by the browser test.
console-screenshots: pg browser
	ASSETANCHOR_CONSOLE_SCREENSHOTS=$(CURDIR)/docs go run ./cmd/pgtest -- go test -count=1 -run '^TestConsoleInBrowser$$' ./http/

fuzz:
	@targets=$$(grep -ho 'func Fuzz[A-Za-z0-9_]*' http/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); \
	if [ -z "$$targets" ]; then echo "fuzz: no Fuzz targets in ./http"; exit 0; fi; \
	for t in $$targets; do \
	  echo "fuzz: $$t"; \
	  go test -run '^$$' -fuzz "^$$t\$$" -fuzztime 20s ./http || exit 1; \
	done
