#!/usr/bin/env bash
# make test-irc: builds chatd, runs irctest's server tests against it
# through contrib/irctest/chatd_controller.py, prints the counts, and fails
# when fewer than MIN_PASSED pass or when any test errors (an error is the
# controller's or the harness's, not a failed assertion).
#
#   IRCTEST    the irctest checkout (default ../shared/irctest)
#   SELECTION  the -k expression (default the project's selection)
#   MIN_PASSED the bar (default 400)
#   TESTS      what to run, relative to IRCTEST (default irctest/server_tests)
#   PYTEST_ARGS more arguments for pytest (e.g. -x, -v)
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
irctest="$(cd "$repo" && cd "${IRCTEST:-../shared/irctest}" && pwd)"
selection="${SELECTION:-not Ergo and not deprecated and not strict}"
min="${MIN_PASSED:-400}"
tests="${TESTS:-irctest/server_tests}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$repo" && CGO_ENABLED=0 go build -o "$work/chatd" ./cmd/chatd)

# irctest is read-only in CI: no bytecode, no cache; run from its folder so
# that its conftest.py adds the --controller option. Debian's pytest (not a
# pyenv shim's python) has the packages.
set +e
(cd "$irctest" && CHATD_BIN="$work/chatd" PYTHONDONTWRITEBYTECODE=1 \
	PYTHONPATH="$repo/contrib/irctest:$irctest" \
	/usr/bin/python3 -m pytest -p no:cacheprovider -q -rfEs \
	--junitxml="$work/junit.xml" --controller chatd_controller \
	-k "$selection" ${PYTEST_ARGS:-} $tests)
set -e

/usr/bin/python3 - "$work/junit.xml" "$min" <<'PY'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suite = root if root.tag == "testsuite" else root.find("testsuite")
tests, failed = int(suite.get("tests")), int(suite.get("failures"))
errors, skipped = int(suite.get("errors")), int(suite.get("skipped"))
passed = tests - failed - errors - skipped
print(f"irctest: {passed} passed, {failed} failed, {skipped} skipped, {errors} errors (bar: {sys.argv[2]} passed)")
if errors:
    sys.exit("irctest: errors are the controller's or the harness's: fix them")
if passed < int(sys.argv[2]):
    sys.exit("irctest: below the bar")
PY
