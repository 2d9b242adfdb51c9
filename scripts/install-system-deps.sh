#!/usr/bin/env bash
# Installs the Debian packages exodetect's training tests, report test and scale-bar tests use, if missing.
# The DejaVu fonts: the synthetic generator and the scale-bar tests burn text labels in them (core), and the
# burned-in text test also uses fonts the generator never trains with (extra).
# PyTorch comes from Debian (CPU) because PyPI is not reachable on these machines.
set -euo pipefail
pkgs=(python3-torch python3-numpy python3-pil python3-onnx python3-pytest python3-scipy chromium fonts-dejavu-core fonts-dejavu-extra)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "exodetect: installing Debian packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "exodetect: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
