#!/usr/bin/env bash
# make test-irc: builds chatd, runs irctest's server tests against it
# through contrib/irctest/chatd_controller.py, prints the counts, and fails
# when fewer than MIN_PASSED pass or when the controller itself failed (an
# error whose traceback passes through chatd_controller.py).
#
#   IRCTEST    the irctest checkout (default ../shared/irctest)
#   SELECTION  the -k expression (default the project's selection)
#   MIN_PASSED the bar (default 400 when run alone; the Makefile passes its floor)
#   TESTS      what to run, relative to IRCTEST (default irctest/server_tests)
#   PYTEST_ARGS more arguments for pytest (e.g. -x, -v)
#   JUNIT      where to keep pytest's junit report (default: not kept)
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
# TMPDIR: irctest keeps the ports it hands out in a file under it, which
# another run on the machine must not share.
(cd "$irctest" && TMPDIR="$work" CHATD_BIN="$work/chatd" PYTHONDONTWRITEBYTECODE=1 \
	PYTHONPATH="$repo/contrib/irctest:$irctest" \
	/usr/bin/python3 -m pytest -p no:cacheprovider -q -rfEs \
	--junitxml="$work/junit.xml" --controller chatd_controller \
	-k "$selection" ${PYTEST_ARGS:-} $tests)
set -e

[ -z "${JUNIT:-}" ] || cp "$work/junit.xml" "$JUNIT"

/usr/bin/python3 - "$work/junit.xml" "$min" <<'PY'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suite = root if root.tag == "testsuite" else root.find("testsuite")
passed = failed = skipped = errors = 0
ours = []
for tc in suite.iter("testcase"):
    if tc.find("error") is not None:
        errors += 1
        text = "".join(e.get("message", "") + (e.text or "") for e in tc.findall("error"))
        if "chatd_controller" in text:
            ours.append(tc.get("name"))
    elif tc.find("failure") is not None:
        failed += 1
    elif tc.find("skipped") is not None:
        skipped += 1
    else:
        passed += 1  # xpassed tests count as passed, as in pytest's junit
print(f"irctest: {passed} passed, {failed} failed, {skipped} skipped, {errors} errors (bar: {sys.argv[2]} passed)")
if ours:
    sys.exit("irctest: the chatd controller failed in: " + ", ".join(ours))
if passed < int(sys.argv[2]):
    sys.exit("irctest: below the bar")
PY
