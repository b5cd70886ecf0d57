#!/usr/bin/env bash
# Install the external checkers the tests drive: MIT krb5 client tools (kinit, kvno),
# tshark, and Samba's Python bindings (python3-samba, for Debian's /usr/bin/python3).
# `bench` also installs the peers the benchmarks compare against (krb5-kdc, samba).
# In CI (CI=true) a missing tool is an error: nothing may be skipped.
set -euo pipefail
need=()
command -v kinit >/dev/null 2>&1 || need+=(krb5-user)
command -v kvno >/dev/null 2>&1 || need+=(krb5-user)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
/usr/bin/python3 -c 'import samba.dcerpc.base' >/dev/null 2>&1 || need+=(python3-samba)
if [ "${1:-}" = bench ]; then
  command -v krb5kdc >/dev/null 2>&1 || need+=(krb5-kdc krb5-admin-server)
  command -v samba-dcerpcd >/dev/null 2>&1 || [ -x /usr/libexec/samba/samba-dcerpcd ] || need+=(samba)
  command -v taskset >/dev/null 2>&1 || need+=(util-linux)
fi
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
if [ "$(id -u)" = 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
elif [ "${CI:-}" = true ]; then
  echo "missing tools in CI and not root: ${need[*]}" >&2
  exit 1
else
  echo "note: not root; tests needing ${need[*]} will be skipped" >&2
fi
