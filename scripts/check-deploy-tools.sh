#!/usr/bin/env bash
# Reports the external tools the deployment checks (test/deploy/*.spec.ts) use. With --install, puts promtool on
# the PATH from Debian's `prometheus` package: only the promtool binary is extracted, so no Prometheus service is
# installed or started. helm, kubeconform and a Docker engine are not Debian packages here; the checks that need
# them print "skipped" with the reason where they are missing. With CI=true the promtool checks fail without it.
set -euo pipefail

if [[ "${1:-}" == "--install" ]] && ! command -v promtool >/dev/null; then
  workdir="$(mktemp -d)"
  trap 'rm -rf "$workdir"' EXIT
  apt-get update -qq
  (cd "$workdir" && apt-get download -qq prometheus 2>/dev/null)
  dpkg-deb -x "$workdir"/prometheus_*.deb "$workdir/root"
  install -m 0755 "$workdir/root/usr/bin/promtool" /usr/local/bin/promtool
fi

for tool in promtool helm kubeconform docker; do
  if command -v "$tool" >/dev/null; then
    echo "deploy checks: $tool found at $(command -v "$tool")"
  else
    echo "deploy checks: $tool missing"
  fi
done
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  echo "deploy checks: Docker engine answers; docker build runs"
else
  echo "deploy checks: no Docker engine; docker build is skipped"
fi
