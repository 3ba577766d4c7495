#!/bin/sh
# Replaces the vendored uPlot (web/assets/vendor/uplot/) with VERSION from the npm registry:
#   web/assets/update-uplot.sh 1.6.32
# The page loads it from the server's own binary (no CDN), so the files live in the repository:
# the minified IIFE build, its stylesheet, its licence, and the version they came from.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 VERSION   (e.g. 1.6.32; see: npm view uplot versions)" >&2
    exit 2
fi
version=$1
case $version in
    *[!0-9.]* | "") echo "$0: $version: expected a version like 1.6.32" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
dest=$here/vendor/uplot
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "uplot@$version" >/dev/null)
tarball=$(ls "$tmp"/uplot-*.tgz)
tar -xzf "$tarball" -C "$tmp"
pkg=$tmp/package

got=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$pkg/package.json")
if [ "$got" != "$version" ]; then
    echo "$0: the registry gave version $got, not $version" >&2
    exit 1
fi
# MIT is what the project's licence allows; anything else needs a person to look.
if ! grep -q '"license": "MIT"' "$pkg/package.json" || ! grep -q "MIT License" "$pkg/LICENSE"; then
    echo "$0: uplot $version is not MIT-licensed any more; not vendoring it" >&2
    exit 1
fi
for f in dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE; do
    if [ ! -s "$pkg/$f" ]; then
        echo "$0: uplot $version has no $f" >&2
        exit 1
    fi
done

mkdir -p "$dest"
cp "$pkg/dist/uPlot.iife.min.js" "$pkg/dist/uPlot.min.css" "$pkg/LICENSE" "$dest/"
echo "$version" >"$dest/VERSION"
wc -c "$dest/uPlot.iife.min.js" "$dest/uPlot.min.css" "$dest/LICENSE"
echo "uplot $version vendored into $dest"
