#!/usr/bin/env bash
# Checks the kernel fragments (image/board/x86_64/kernel/*.config) against a kernel source tree,
# without building: makes the .config Buildroot will make (x86_64_defconfig, the fragments
# merged on top, olddefconfig) and checks that every fragment line survived. The kernel's
# Kconfig drops, silently, symbols that do not exist and ones whose dependencies are off.
#
# Usage: image/scripts/check-kernel-fragments.sh LINUX_DIR [OUTPUT_DIR]
# The image tree checks run it against Debian's linux-source-6.1 (the release kernel is 6.18:
# that catches symbols gone or missing a dependency, not those removed after 6.1).
set -euo pipefail

linux=${1:?usage: check-kernel-fragments.sh LINUX_DIR [OUTPUT_DIR]}
if [ -n "${2:-}" ]; then
  out=$2
else
  out=$(mktemp -d "${TMPDIR:-/tmp}/panier-kconfig.XXXXXX")
  trap 'rm -rf "$out"' EXIT
fi
fragments=("$(cd "$(dirname "$0")/.." && pwd)"/board/x86_64/kernel/*.config)

echo "kernel fragments: against $(make -s -C "$linux" kernelversion 2>/dev/null || echo '?') in $linux"
make -s -C "$linux" O="$out" ARCH=x86_64 x86_64_defconfig > /dev/null
ARCH=x86_64 "$linux/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${fragments[@]}" > "$out/merge.log" 2>&1
make -s -C "$linux" O="$out" ARCH=x86_64 olddefconfig > "$out/olddefconfig.log" 2>&1

failed=0
for fragment in "${fragments[@]}"; do
  while IFS= read -r line; do
    case $line in
      CONFIG_*=*)
        if ! grep -qxF -- "$line" "$out/.config"; then
          echo "kernel fragments: ${fragment##*/}: '$line', .config has '$(grep -E "^(# )?${line%%=*}[= ]" "$out/.config" || echo 'nothing')'"
          failed=1
        fi
        ;;
    esac
  done < "$fragment"
done
[ "$failed" = 0 ] && echo "kernel fragments: every line survived"
exit "$failed"
