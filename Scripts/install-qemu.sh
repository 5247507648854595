#!/bin/sh
# Installs the QEMU system emulators the conformance suite runs its guests on
# (Debian/Ubuntu packages qemu-system-arm, qemu-system-misc, qemu-system-x86).
# Does nothing when qemu-system-aarch64, -riscv64 and -x86_64 are already there.
set -eu

missing=""
for binary in qemu-system-aarch64 qemu-system-riscv64 qemu-system-x86_64; do
  command -v "$binary" >/dev/null 2>&1 || missing="$missing $binary"
done
if [ -z "$missing" ]; then
  echo "QEMU is installed: $(qemu-system-aarch64 --version | head -n 1)"
  exit 0
fi

echo "installing QEMU (missing:$missing)"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
$sudo apt-get install -y qemu-system-arm qemu-system-misc qemu-system-x86
qemu-system-aarch64 --version | head -n 1
