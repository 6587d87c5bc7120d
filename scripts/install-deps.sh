#!/usr/bin/env bash
# Installs deskpilot's build and test dependencies from Debian 12's own packages.
# Nothing is downloaded from anywhere else. Safe to run repeatedly.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libcpp-httplib-dev nlohmann-json3-dev libcurl4-openssl-dev libsqlite3-dev
  libspdlog-dev libcxxopts-dev libtomlplusplus-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
