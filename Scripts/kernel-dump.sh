#!/usr/bin/env bash
# Boots a real Linux kernel in qemu-system-x86_64 (no root file system: the kernel
# sets up its page tables, then panics looking for one), and dumps the guest's
# memory with QEMU's monitor command `dump-guest-memory` as an ELF core whose
# notes carry CR3. Then: pgtable dump OUTPUT.core
#
# Usage: Scripts/kernel-dump.sh [--fetch] [OUTPUT.core]
#   --fetch   without a kernel, download Debian's linux-image-cloud-amd64 and
#             unpack its vmlinuz into .build-kernel/ (no install, no initramfs);
#             without OUTPUT, only that
# The kernel: $PGTABLE_KERNEL, else /boot/vmlinuz-*, else .build-kernel/boot/vmlinuz-*.
# Exit status: 0 dumped, 1 QEMU or the kernel misbehaved, 3 no kernel or no QEMU.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
fetch=0
if [ "${1:-}" = "--fetch" ]; then fetch=1; shift; fi
output="${1:-}"
[ -n "$output" ] || [ "$fetch" = 1 ] || { echo "usage: Scripts/kernel-dump.sh [--fetch] [OUTPUT.core]" >&2; exit 2; }
case "$output" in /* | "") ;; *) output="$PWD/$output" ;; esac

find_kernel() {
  if [ -n "${PGTABLE_KERNEL:-}" ] && [ -r "$PGTABLE_KERNEL" ]; then echo "$PGTABLE_KERNEL"; return; fi
  for candidate in /boot/vmlinuz-* "$root"/.build-kernel/boot/vmlinuz-*; do
    if [ -r "$candidate" ]; then echo "$candidate"; return; fi
  done
}

kernel="$(find_kernel)"
if [ -z "$kernel" ] && [ "$fetch" = 1 ]; then
  echo "fetching Debian's cloud kernel into .build-kernel"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  package="$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -n 1)"
  [ -n "$package" ] || { echo "error: apt-cache knows no linux-image-cloud-amd64" >&2; exit 3; }
  mkdir -p "$root/.build-kernel"
  (cd "$root/.build-kernel" && apt-get download "$package" >/dev/null && dpkg-deb -x ./"$package"_*.deb . && rm -f ./*.deb)
  kernel="$(find_kernel)"
fi
[ -n "$kernel" ] || { echo "no kernel: set PGTABLE_KERNEL, install linux-image-amd64, or pass --fetch" >&2; exit 3; }
if [ -z "$output" ]; then echo "kernel: $kernel"; exit 0; fi
command -v qemu-system-x86_64 >/dev/null || { echo "no qemu-system-x86_64 (Scripts/install-qemu.sh)" >&2; exit 3; }

work="$(mktemp -d)"
trap 'kill "${qemu_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
# TCG, not KVM: the boot takes ~15 s either way, and nested KVM hangs on some hosts.
echo "booting $kernel"
qemu-system-x86_64 -machine accel=tcg -m 256M -smp 1 -kernel "$kernel" \
  -append "console=ttyS0 nokaslr panic=0 quiet" -display none -no-reboot \
  -serial "file:$work/serial.log" -monitor "unix:$work/monitor.sock,server,nowait" \
  >"$work/qemu.log" 2>&1 &
qemu_pid=$!
for _ in $(seq 1 180); do
  if grep -q "Kernel panic" "$work/serial.log" 2>/dev/null; then break; fi
  if ! kill -0 "$qemu_pid" 2>/dev/null; then
    echo "error: QEMU exited early:" >&2; cat "$work/qemu.log" "$work/serial.log" >&2; exit 1
  fi
  sleep 0.5
done
grep -q "Kernel panic" "$work/serial.log" || { echo "error: no panic within 90 s" >&2; tail -n 20 "$work/serial.log" >&2; exit 1; }
rm -f "$output"
python3 - "$work/monitor.sock" "$output" <<'PY'
import socket, sys, time, os
sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
def command(text):
    sock.sendall((text + "\n").encode())
    time.sleep(0.3)
command("stop")
command("dump-guest-memory " + sys.argv[2])
for _ in range(600):  # the dump is synchronous in the monitor; wait for the file to settle
    time.sleep(0.1)
    if os.path.exists(sys.argv[2]):
        size = os.path.getsize(sys.argv[2])
        time.sleep(0.3)
        if size > 0 and size == os.path.getsize(sys.argv[2]):
            break
command("quit")
PY
wait "$qemu_pid" 2>/dev/null || true
[ -s "$output" ] || { echo "error: no dump written" >&2; exit 1; }
echo "dumped $(du -h "$output" | cut -f1) to $output: pgtable dump $output"
