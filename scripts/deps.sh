#!/bin/sh
# Installs the Debian packages sockit needs to build and test, when missing.
# Called by make; safe to run again.  Not root: prints the apt-get line.
# Extras on request: `sh scripts/deps.sh fuzz` adds clang and libFuzzer
# (make fuzz), so that plain `make test` never waits for them;
# `sh scripts/deps.sh valgrind` adds valgrind (make test-valgrind);
# `sh scripts/deps.sh lint` adds clang-format and cppcheck (make lint).
set -eu
# The tests talk to real peers: socat, OpenBSD nc, openssl s_client and
# s_server, Python's ssl module with certificates from trustme; ss (iproute2)
# reads listen backlogs.  netbase provides /etc/services, where ports given
# by name (localhost:http) are looked up; slim images leave it out.
pkgs="build-essential pkg-config libuv1-dev libcmocka-dev libssl-dev openssl
      python3 python3-pytest python3-trustme socat netcat-openbsd iproute2
      netbase"
for extra in "$@"; do
  case $extra in
  fuzz) pkgs="$pkgs clang libclang-rt-14-dev" ;;
  valgrind) pkgs="$pkgs valgrind" ;;
  lint) pkgs="$pkgs clang-format cppcheck" ;;
  *)
    echo "scripts/deps.sh: unknown extra '$extra' (known: fuzz, valgrind, lint)" >&2
    exit 2
    ;;
  esac
done
missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "sockit: missing packages:$missing" >&2
  echo "run as root: apt-get install -y$missing" >&2
  exit 1
fi
echo "sockit: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq </dev/null >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing </dev/null >/dev/null
