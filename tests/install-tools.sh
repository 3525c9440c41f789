#!/usr/bin/env bash
# What some tests need beyond Python packages, installed from Debian's packages when
# missing (`make test` runs this). Where it cannot install (no apt, not root, offline)
# it says so, and the tests that need the tool skip with that reason.
set -u
want=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || want+=(nginx-light)
command -v docker-compose >/dev/null 2>&1 || want+=(docker-compose)
# the front desk's browser tests (Playwright drives Debian's build, not its own download)
[ -x /usr/bin/chromium ] || want+=(chromium)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "tests/install-tools.sh: cannot install ${want[*]} (needs root and apt-get); their tests will skip" >&2
  exit 0
fi
echo "tests/install-tools.sh: installing ${want[*]}"
if ! (apt-get install -y -q --no-install-recommends "${want[@]}" >/dev/null 2>&1 \
      || (apt-get update -q >/dev/null 2>&1 \
          && apt-get install -y -q --no-install-recommends "${want[@]}" >/dev/null 2>&1)); then
  echo "tests/install-tools.sh: apt-get could not install ${want[*]}; their tests will skip" >&2
fi
exit 0
