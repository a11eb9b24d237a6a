#!/usr/bin/env bash
# Puts the training material of data/README.md in place from Debian's archive: the photographs
# its table lists (data/photos/PACKAGE/FILE, the table is the list) and the HDR photographs
# (data/hdr-photos, converted by datasets/hdr_photos.ts). The radiance maps (data/hdri) are
# left to the user, as their sources say. Needs apt-get, dpkg-deb and Deno; run as a user who
# may download packages (no install happens). Files already in place are kept.
#   bash datasets/fetch_material.sh [DATA_DIR]      (default data)
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-data}
readme=data/README.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# PACKAGE/FILE rows of the photographs' table, and the packages they come from.
rows=$(grep -oE '^\| `[a-z0-9.-]+/[^`]+`' "$readme" | sed 's/^| `//; s/`$//')
pkgs="$(echo "$rows" | cut -d/ -f1 | sort -u | tr '\n' ' ') rawtran-doc"
echo "fetch_material: downloading $pkgs" >&2
(cd "$work" && apt-get download $pkgs >/dev/null 2>"$work/apt.log") ||
  { echo "fetch_material: apt-get download failed: $(tail -1 "$work/apt.log")" >&2; exit 1; }
for deb in "$work"/*.deb; do
  p=$(dpkg-deb -f "$deb" Package)
  dpkg-deb -x "$deb" "$work/$p"
done

# Where a row's file lies in its package: by name, except where the package nests it.
locate() {
  local p=$1 f=$2 dir=$work/$1
  case $p in
  plasma-workspace-wallpapers) # Name_2560x1600.jpg is wallpapers/Name/contents/images/2560x1600.jpg
    find "$dir" -type f -path "*/wallpapers/${f%_*}/contents/images/${f##*_}" ;;
  forensics-samples-files) # pic1_X.jpg is original-files/pic1/X.jpg
    find "$dir" -type f -path "*/original-files/${f%%_*}/${f#*_}" ;;
  *) find "$dir" -type f -name "$f" ;;
  esac | head -1
}
n=0
while IFS=/ read -r p f; do
  out=$D/photos/$p/$f
  [ -f "$out" ] && continue
  src=$(locate "$p" "$f")
  [ -n "$src" ] || { echo "fetch_material: $p has no $f" >&2; exit 1; }
  mkdir -p "$(dirname "$out")"
  cp "$src" "$out.tmp" && mv "$out.tmp" "$out"
  n=$((n + 1))
done <<<"$rows"
echo "fetch_material: $n photographs written to $D/photos" >&2

deno run --allow-read --allow-write --allow-ffi --allow-env datasets/hdr_photos.ts \
  "$work" "$D/hdr-photos"
