#!/usr/bin/env bash
# Build the Debian packages of cliser: cliser-server and cliser-pi-client, each for amd64 and arm64.
# `deploy/package.sh --help` tells all.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: deploy/package.sh [--arch amd64|arm64|all] [--out DIR] [--deb-version V] [--no-build]

Builds the four Debian packages with cargo-deb (`cargo install cargo-deb --version 3.8.0 --locked`):

  cliser-server_VERSION_amd64.deb      cliser-pi-client_VERSION_amd64.deb   (this PC, tests)
  cliser-server_VERSION_arm64.deb      cliser-pi-client_VERSION_arm64.deb   (a Pi 5, 64-bit Pi OS)

VERSION is the workspace's (Cargo.toml) with the Debian revision 1, e.g. 0.1.0-1. The amd64 ones
are built with cargo on this machine (which must be x86_64), the arm64 ones with cargo and
Debian's aarch64 linker as deploy.sh builds them (`sudo apt install gcc-aarch64-linux-gnu`,
`rustup target add aarch64-unknown-linux-gnu`; .cargo/config.toml), the client with the gpio
feature; then `cargo deb --no-build` packs each, stripping the binary.

Before packing, it writes into the target dir what the packages carry besides the binaries: the
units (deploy/*.service with ExecStart= in /usr/bin and a start condition: a secret must be in
place) and each binary's --help text (the arm64 one's under qemu-aarch64 when installed, else
this machine's). Then it prints each package's path and size, one a line:
  PATH SIZE_BYTES

Options:
  --arch A          amd64, arm64 or all (default all)
  --out DIR         where the .deb files go (default: TARGET/debian, TARGET the cargo target dir)
  --deb-version V   the packages' version instead of Cargo.toml's (e.g. 0.1.0-2 for an upgrade test)
  --no-build        pack what is already built (fails if a binary is missing)
  -h, --help        this text

Environment: CARGO_TARGET_DIR (default: target/ of the checkout).
Exit status: 0 built, 1 failure, 2 bad usage.
EOF
}

say() { printf 'package: %s\n' "$*" >&2; }
die() { printf 'package: error: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'package: %s\nTry deploy/package.sh --help\n' "$*" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ws=$(cd "$here/.." && pwd)
triple=aarch64-unknown-linux-gnu
arch=all out="" deb_version="" build=1
while [ $# -gt 0 ]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --arch) [ $# -ge 2 ] || usage_error "--arch needs a value"; arch=$2; shift 2 ;;
        --out) [ $# -ge 2 ] || usage_error "--out needs a value"; out=$2; shift 2 ;;
        --deb-version) [ $# -ge 2 ] || usage_error "--deb-version needs a value"; deb_version=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        *) usage_error "unknown argument: $1" ;;
    esac
done
case $arch in amd64 | arm64 | all) ;; *) usage_error "--arch must be amd64, arm64 or all, not '$arch'" ;; esac
[ -z "$deb_version" ] || [[ $deb_version =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || usage_error "--deb-version: not a Debian version: '$deb_version'"

command -v cargo-deb >/dev/null 2>&1 || die "cargo-deb is not installed: cargo install cargo-deb --version 3.8.0 --locked"
tdir=${CARGO_TARGET_DIR:-$ws/target}
[[ $tdir == /* ]] || tdir=$ws/$tdir
out=${out:-$tdir/debian}
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ -n "$(cd "$ws" && git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    say "warning: the checkout has uncommitted changes; they go into the packages"
fi

# write_extras DIR BIN_RUNNER...: the units and the --help texts into DIR (TARGET[/TRIPLE]/release/deb),
# where the assets `target/release/deb/...` of server/ and pi-client/Cargo.toml point.
write_extras() {
    local dir=$1 bin_dir=$2 name
    shift 2
    mkdir -p "$dir"
    for name in cliser-server cliser-pi-client; do
        unit_for_package "$name" >"$dir/$name.service"
        help_text "$bin_dir/$name" "$@" >"$dir/$name.help.txt" || die "$name --help failed"
    done
}

# unit_for_package NAME: deploy/NAME.service as the package installs it.
unit_for_package() {
    local name=$1 condition
    case $name in
        cliser-server) condition='ConditionPathExists=|/etc/cliser/password\nConditionPathExists=|/etc/cliser/clients.toml' ;;
        *) condition='ConditionPathExists=|/etc/cliser/password\nConditionPathExists=|/etc/cliser/token' ;;
    esac
    awk -v name="$name" -v condition="$condition" '
        /^# Installed by deploy\/deploy.sh/ {
            print "# Installed by the Debian package " name " to /lib/systemd/system/ (made by deploy/package.sh"
            print "# from deploy/" name ".service); settings live in /etc/cliser/ (docs/raspberry-pi.md)."
            next
        }
        /^\[Service\]$/ {
            print "# The package starts it only once a secret it logs in with is in place: until then `systemctl"
            print "# start` skips it (the condition is not met) instead of failing. A secret elsewhere: reset the"
            print "# condition (an empty ConditionPathExists=) in a drop-in, `systemctl edit " name "`."
            gsub(/\\n/, "\n", condition)
            print condition
            print ""
        }
        {
            sub("^ExecStart=/usr/local/bin/", "ExecStart=/usr/bin/")
            sub("survives the next deploy; this file does not", "survives an upgrade; this file does not")
            print
        }
    ' "$ws/deploy/$name.service"
}

# help_text BIN RUNNER...: BIN's --help and each subcommand's, run by RUNNER (e.g. qemu-aarch64).
help_text() {
    local bin=$1 sub
    shift
    printf '%s\n\n' "$("$@" "$bin" --version)"
    "$@" "$bin" --help
    for sub in $("$@" "$bin" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }'); do
        [ "$sub" = help ] && continue
        printf '\n\n==== %s %s --help\n\n' "$(basename "$bin")" "$sub"
        "$@" "$bin" "$sub" --help
    done
}

packages=()
# pack NAME [--target TRIPLE]: cargo deb --no-build for NAME; appends the .deb's path to $packages.
pack() {
    local name=$1 log
    shift
    local args=(deb -p "$name" --no-build --output "$out" "$@")
    [ -z "$deb_version" ] || args+=(--deb-version "$deb_version")
    log=$(cd "$ws" && cargo "${args[@]}" 2>&1) || { printf '%s\n' "$log" >&2; die "cargo ${args[*]} failed"; }
    packages+=("$(printf '%s\n' "$log" | tail -n 1)")
}

if [ "$arch" = amd64 ] || [ "$arch" = all ]; then
    [ "$(uname -m)" = x86_64 ] || die "amd64 packages are built on an x86_64 machine (this one is $(uname -m)); try --arch arm64"
    if [ "$build" -eq 1 ]; then
        say "building cliser-server and cliser-pi-client for this machine (release)"
        (cd "$ws" && cargo build --release -p cliser-server -p cliser-pi-client) >&2 || die "the build failed"
    fi
    write_extras "$tdir/release/deb" "$tdir/release"
    pack cliser-server
    pack cliser-pi-client
fi
if [ "$arch" = arm64 ] || [ "$arch" = all ]; then
    if [ "$build" -eq 1 ]; then
        command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || die "no aarch64-linux-gnu-gcc: sudo apt install gcc-aarch64-linux-gnu"
        say "building cliser-pi-client (with the gpio feature) and cliser-server for $triple (release)"
        # Each as deploy.sh --build-only builds it, so that one build serves both.
        (cd "$ws" && cargo build --release --target "$triple" -p cliser-pi-client --features gpio &&
            cargo build --release --target "$triple" -p cliser-server) >&2 || die "the build failed"
    fi
    runner=()
    if command -v qemu-aarch64 >/dev/null 2>&1; then
        runner=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
        write_extras "$tdir/$triple/release/deb" "$tdir/$triple/release" "${runner[@]}"
    else
        say "no qemu-aarch64 (apt install qemu-user): the arm64 packages carry this machine's --help texts"
        [ -x "$tdir/release/cliser-server" ] || die "neither qemu-aarch64 nor a host build for the --help texts: --arch all, or install qemu-user"
        write_extras "$tdir/$triple/release/deb" "$tdir/release"
    fi
    pack cliser-server --target "$triple"
    pack cliser-pi-client --target "$triple"
fi

for p in "${packages[@]}"; do
    [ -f "$p" ] || die "cargo deb did not report a package file (got '$p')"
    printf '%s %s\n' "$p" "$(stat -c %s "$p")"
done
