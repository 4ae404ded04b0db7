#!/usr/bin/env bash
# Builds one test image of a real application from Debian packages, as the QEMU root is built
# (tests/qemu/build-rootfs.sh): mmdebstrap makes a small root filesystem with the recipe's
# packages (variant essential: no apt, no docs, no locales, apt's lists and caches removed),
# and this script wraps its tarball into an OCI image layout (one gzip layer, a config with
# the recipe's entrypoint, user and ports), which skopeo pushes to the tests' local registry.
#
#   tests/images/build.sh NAME    → prints the layout's directory; the image is named NAME
#
# The layout also holds packages.txt: each installed Debian package and its version, which the
# tests compare with the manifests' provenance.
#
# The recipe is tests/images/NAME/: `recipe.sh` (bash, sourced: `packages`, `entrypoint`,
# `cmd`, `user`, `ports`, JSON arrays for the last three but `user`) and a `files/` tree copied
# over the root filesystem. The layout is cached under /var/cache/panier/test-images/ keyed on
# this script, the recipe folder and the Debian sources, so a second run costs nothing; only
# the newest build of each recipe is kept (and the
# downloaded packages, in debs/, shared by the recipes). PANIER_DEBIAN_SOURCES as for build-rootfs.sh.
set -euo pipefail

name=${1:?usage: build.sh NAME}
here=$(cd "$(dirname "$0")" && pwd)
recipe="$here/$name"
[ -f "$recipe/recipe.sh" ] || { echo "build.sh: no recipe $recipe/recipe.sh" >&2; exit 1; }
cache=${PANIER_TEST_IMAGE_CACHE:-/var/cache/panier/test-images}
suite=bookworm
sources=${PANIER_DEBIAN_SOURCES:-}
if [ -z "$sources" ]; then
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    if [ -s "$f" ] && grep -q "$suite" "$f"; then sources=$f; break; fi
  done
fi
[ -n "$sources" ] || { echo "build.sh: no Debian sources found; set PANIER_DEBIAN_SOURCES" >&2; exit 1; }

key=$( { cat "$0"; (cd "$recipe" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum);
         find "$recipe" -type f -printf '%m %P\n' | LC_ALL=C sort; grep -v '^#' "$sources"; } | sha256sum | cut -c1-16)
out="$cache/$name-$key"
if [ -f "$out/index.json" ]; then
  echo "$out"
  exit 0
fi
# Tests running at once may ask for the same image: one builds it, the others wait for it.
mkdir -p "$cache"
exec 9>"$cache/.lock-$name"
flock 9
if [ -f "$out/index.json" ]; then
  echo "$out"
  exit 0
fi

packages=() entrypoint='null' cmd='null' user='' ports='[]'
# shellcheck source=/dev/null
. "$recipe/recipe.sh"
mkdir -p "$cache"
start=$(date +%s)
echo "build.sh: building the test image $name ($out; cached afterwards)" >&2
tmp="$out.tmp"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/blobs/sha256"

# The hooks are expanded by mmdebstrap, not here:
# shellcheck disable=SC2016
hook_clean='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/usr/share/man/* "$1"/usr/share/locale/* "$1"/usr/share/info/* "$1"/var/log/*.log "$1"/var/cache/debconf/*-old'
hook_files=true
if [ -d "$recipe/files" ]; then
  hook_files="cp -a '$recipe/files/.' \"\$1/\""
fi
hook_setup=true
if [ -x "$recipe/customize.sh" ]; then
  hook_setup="'$recipe/customize.sh' \"\$1\""
fi
# dpkg's fsync of every file (force-unsafe-io turns it off) is most of a build's time on a busy
# disk, and a half-written image is thrown away anyway.
# Downloaded packages are kept in one folder shared by every recipe (mmdebstrap's sync-in and
# sync-out), so the images' common packages (libc, Python, Perl…) are downloaded once.
debs="$cache/debs"
mkdir -p "$debs"
SOURCE_DATE_EPOCH=$(date -d 2026-01-01 +%s) mmdebstrap --variant=essential --mode=root --format=tar \
  --skip=download/empty --skip=essential/unlink \
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
  --setup-hook="sync-in '$debs' /var/cache/apt/archives/" \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --dpkgopt=force-unsafe-io \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --customize-hook="$hook_files" \
  --customize-hook="$hook_setup" \
  --customize-hook="sync-out /var/cache/apt/archives '$debs'" \
  --customize-hook="$hook_clean" \
  --customize-hook="dpkg-query --admindir=\"\$1/var/lib/dpkg\" -W -f '\${Package} \${Version}\\n' > '$tmp/packages.txt'" \
  "$suite" "$tmp/rootfs.tar" "$sources" >&2

# The OCI layout: layer, config, manifest, index.
blob() { # FILE → moves it into blobs/, prints "digest size"
  local sum size
  sum=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  mv "$1" "$tmp/blobs/sha256/$sum"
  echo "sha256:$sum $size"
}
diff_id=sha256:$(sha256sum "$tmp/rootfs.tar" | cut -d' ' -f1)
# Fastest gzip: the layer only travels over loopback, and -6 took a minute on a busy machine.
gzip -n -1 "$tmp/rootfs.tar"
read -r layer layer_size < <(blob "$tmp/rootfs.tar.gz")
jq -n --argjson entrypoint "$entrypoint" --argjson cmd "$cmd" --arg user "$user" \
  --argjson ports "$ports" --arg diff "$diff_id" --arg name "$name" '{
    architecture: "amd64", os: "linux", created: "2026-01-01T00:00:00Z",
    config: {
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
      Entrypoint: $entrypoint, Cmd: $cmd, User: $user, WorkingDir: "/",
      ExposedPorts: ($ports | map({key: "\(.)/tcp", value: {}}) | from_entries)
    },
    rootfs: {type: "layers", diff_ids: [$diff]},
    history: [{created: "2026-01-01T00:00:00Z", created_by: "tests/images/build.sh \($name) (mmdebstrap)"}]
  }' > "$tmp/config.json"
read -r config config_size < <(blob "$tmp/config.json")
jq -n --arg config "$config" --argjson csize "$config_size" --arg layer "$layer" --argjson lsize "$layer_size" '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $config, size: $csize},
    layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $layer, size: $lsize}]
  }' > "$tmp/manifest.json"
read -r manifest manifest_size < <(blob "$tmp/manifest.json")
jq -n --arg m "$manifest" --argjson size "$manifest_size" --arg name "$name" '{
    schemaVersion: 2,
    manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $size,
                 annotations: {"org.opencontainers.image.ref.name": $name}}]
  }' > "$tmp/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$tmp/oci-layout"
mv "$tmp" "$out"
trap - EXIT
find "$cache" -maxdepth 1 -name "$name-*" ! -path "$out" -exec rm -rf {} +
# Packages no longer named by the Debian sources would pile up: keep the last month's.
find "$debs" -name '*.deb' -mtime +30 -delete
echo "build.sh: $name built in $(( $(date +%s) - start )) s, $((layer_size / 1000000)) MB compressed" >&2
echo "$out"
