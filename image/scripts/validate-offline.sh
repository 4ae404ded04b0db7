#!/usr/bin/env bash
# Checks the Buildroot tree against a Buildroot checkout, without network and without building:
# 1. `make panier_x86_64_defconfig` with this external tree;
# 2. every symbol the defconfig sets survived into .config with its value (Kconfig silently
#    drops unknown symbols and those with unmet dependencies, and still exits 0);
# 3. BR2_LEGACY is unset (a renamed option sets it, and only the next make target fails);
# 4. `make show-info` works (every package's .mk parses);
# 5. utils/check-package is clean on the external tree;
# 6. with LINUX_DIR (a kernel source tree): every line of the kernel fragments survives into a
#    .config made from x86_64_defconfig plus the fragments, as Buildroot will make it (the
#    kernel's Kconfig drops symbols the same silent way).
#
# Usage: BUILDROOT_DIR=/path/to/buildroot-2026.05.x [LINUX_DIR=/path/to/linux-6.18] \
#          image/scripts/validate-offline.sh [OUTPUT_DIR]
set -euo pipefail

br=${BUILDROOT_DIR:?set BUILDROOT_DIR to a Buildroot 2026.05.x checkout}
external=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$(mktemp -d "${TMPDIR:-/tmp}/panier-validate.XXXXXX")}
defconfig="$external/configs/panier_x86_64_defconfig"
failed=0

echo "validate: Buildroot $(make -s -C "$br" print-version 2>/dev/null || echo '?') in $br, output in $out"
make -s -C "$br" O="$out" BR2_EXTERNAL="$external" panier_x86_64_defconfig

# Kconfig keeps string values as written ($(BR2_EXTERNAL_PANIER_PATH) included): compare lines.
while IFS= read -r line; do
  case $line in
    BR2_*=*)
      symbol=${line%%=*}
      if ! grep -qxF -- "$line" "$out/.config"; then
        echo "validate: $symbol: defconfig says '${line#*=}', .config has '$(grep -E "^(# )?${symbol}[= ]" "$out/.config" || echo 'nothing')'"
        failed=1
      fi
      ;;
    "# BR2_"*" is not set")
      symbol=${line#\# }; symbol=${symbol%% *}
      if grep -q "^$symbol=" "$out/.config"; then
        echo "validate: $symbol: defconfig unsets it, .config sets it"
        failed=1
      fi
      ;;
  esac
done < "$defconfig"

if grep -q '^BR2_LEGACY=y' "$out/.config"; then
  echo "validate: BR2_LEGACY is set: the defconfig uses a renamed or removed option:"
  grep '^BR2_.*_LEGACY\|^BR2_LEGACY' "$out/.config" || true
  failed=1
fi

make -s -C "$br" O="$out" show-info > "$out/show-info.json"
jq -e '.panier' "$out/show-info.json" > /dev/null || { echo "validate: show-info has no panier package"; failed=1; }

# check-package imports python-magic and flake8 (Debian: python3-magic, flake8); a Python from
# pyenv or a venv may not see Debian's modules.
if ! python3 -c 'import magic, flake8' 2> /dev/null; then
  echo "validate: utils/check-package needs the Python modules magic and flake8 for $(command -v python3) (Debian: apt install python3-magic flake8)"
  failed=1
fi
(cd "$external" && "$br/utils/check-package" -b "$external"/package/*/* "$external/Config.in" "$external/external.mk") || failed=1

if [ -n "${LINUX_DIR:-}" ]; then
  "$external/scripts/check-kernel-fragments.sh" "$LINUX_DIR" "$out/linux-config" || failed=1
fi

if [ "$failed" = 0 ]; then echo "validate: all checks passed"; else echo "validate: FAILED"; exit 1; fi
