#!/usr/bin/env bash
# Installs what the build, the demo and the tests need: Debian packages and npm packages only.
# Idempotent: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # eBPF toolchain and the native binding
  clang-14 llvm-14 libbpf-dev libelf-dev zlib1g-dev bpftool make g++ python3 pkg-config
  # network plumbing for the lab and the tests
  iproute2 ethtool procps
  # traffic for the per-subscriber counter and policer tests
  iputils-ping iperf3
  # real DHCP peers: clients, relay, the Kea comparison server, perfdhcp, trafgen
  isc-dhcp-client udhcpc busybox dhcpcd5 isc-dhcp-relay kea-dhcp4-server kea-admin netsniff-ng
  # RADIUS peers
  freeradius freeradius-utils
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # Debian's service packages start their daemons on install; the tests start their own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi

# bpffs for pinned maps
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "deps: installing npm packages"
  npm ci --no-audit --no-fund
fi
