#!/usr/bin/env bash
# Runs the whole test suite: unit + in-process cluster tests, then the multi-process tests (real node processes).
# Installs the test data (Debian package dataset-fashion-mnist) and PostgreSQL when they are missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
# plots (ScottPlot) draw their text with DejaVu Sans (fonts-dejavu-core); LightGBM's native library needs OpenMP (libgomp1);
# the partition and chaos tests make network namespaces with iproute2 (and need root); the open-protocol tests use clients
# nobody here wrote: Mosquitto's broker and clients, Debian's paho-mqtt for Python, curl; the observability tests a real
# Prometheus server and its promtool; the web console's test Debian's chromium driven through chromium-driver
if [ ! -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || [ ! -d /usr/share/fonts/truetype/dejavu ] \
   || ! ldconfig -p 2>/dev/null | grep -q libgomp.so.1 || ! command -v ip >/dev/null || ! command -v mosquitto_pub >/dev/null \
   || [ ! -x /usr/sbin/mosquitto ] || ! /usr/bin/python3 -c 'import paho.mqtt' 2>/dev/null || ! command -v curl >/dev/null \
   || [ ! -x /usr/bin/prometheus ] || [ ! -x /usr/bin/promtool ] || [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q && $sudo_cmd apt-get install -y -q dataset-fashion-mnist fonts-dejavu-core libgomp1 iproute2 \
    mosquitto mosquitto-clients python3-paho-mqtt curl prometheus chromium chromium-driver
fi
# the datacenter store's tests run against PostgreSQL too: install/start it and create the test role and database
# (a failed set-up stops the run here, saying so: `export X="$(...)"` would hide the failure)
if [ -z "${EDGEACTORS_TEST_POSTGRES:-}" ]; then
  if ! pg="$(bash "$root/scripts/postgres-setup.sh")"; then
    echo "test.sh: setting up PostgreSQL failed (scripts/postgres-setup.sh above); the store tests need it" >&2
    exit 1
  fi
  EDGEACTORS_TEST_POSTGRES="$(printf '%s\n' "$pg" | tail -n 1)"
  export EDGEACTORS_TEST_POSTGRES
fi
dotnet build EdgeActors.sln -c Release --nologo -v quiet -clp:ErrorsOnly
# each test project's output is kept; when one fails, its failed tests (name, message, start of the stack) are printed
# again at the very end, so the tail of a long CI log says what failed
run_tests() {
  local log; log="$(mktemp)"
  # a test still running after 15 minutes hangs: the run stops there, naming it, instead of holding CI until its limit
  if dotnet test "$1" -c Release --no-build --nologo --logger "console;verbosity=normal" \
       --blame-hang --blame-hang-timeout 15m --blame-hang-dump-type none 2>&1 | tee "$log"; then
    rm -f "$log"; return 0
  fi
  echo "=== failed tests in $1 ==="
  awk '/^  Failed /{p=1; n=0} /^  Passed /{p=0} p && n++ < 40 {print}' "$log"
  rm -f "$log"; return 1
}
# both projects run even when the first fails (the multi-process tests are the ones that see real processes)
failed=0
run_tests tests/EdgeActors.Tests/EdgeActors.Tests.csproj || failed=1
run_tests tests/EdgeActors.MultiNode.Tests/EdgeActors.MultiNode.Tests.csproj || failed=1
if [ "$failed" -ne 0 ]; then echo "test.sh: FAILED (the failed tests are listed above each project's summary)" >&2; exit 1; fi
echo "test.sh: all tests passed"
