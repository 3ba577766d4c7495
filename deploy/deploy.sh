#!/usr/bin/env bash
# Build cliser for a Raspberry Pi 5 and install it there over ssh. `deploy/deploy.sh --help` tells all.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: deploy/deploy.sh [OPTIONS] [--server] USER@HOST
       deploy/deploy.sh [OPTIONS] --deb PACKAGE.deb USER@HOST
       deploy/deploy.sh --build-only [--server] [--builder B]

Builds cliser-pi-client (or, with --server, cliser-server) for HOST, a Pi 5 with 64-bit
Raspberry Pi OS (aarch64-unknown-linux-gnu), and installs it there over ssh:

  /usr/local/bin/cliser-pi-client              the binary (0755)
  /etc/systemd/system/cliser-pi-client.service the unit, enabled (starts at boot)
  /etc/cliser/pi-client.toml                   the config: created once from
                                               deploy/pi-client.example.toml, then left alone
  /etc/cliser/password                         the password, 0400, owned by cliser
  /etc/cliser/token                            with --token-file: this Pi's own token, 0400, owned
                                               by cliser, and the config's password-file points to it
  user cliser                                  a system user, in group gpio (GPIO backend)
  /etc/udev/rules.d/60-cliser-w1.rules         lets group cliser write the w1 sensors' resolution
                                               and the bus's bulk conversion; applied at once with
                                               udevadm when HOST has it (docs/raspberry-pi.md)

(--server: cliser-server, cliser-server.service, /etc/cliser/server.toml from
deploy/server.example.toml, the same password file, no gpio group.)

With --deb PACKAGE.deb (from deploy/package.sh: cliser-pi-client_*_arm64.deb for a Pi), it builds
nothing and copies no binary, unit or udev rule: it installs the package on HOST instead, with
`apt-get install ./PACKAGE.deb` (or `dpkg -i` where HOST has no apt-get), which puts the binary in
/usr/bin, the unit in /lib/systemd/system, the rule in /lib/udev/rules.d and creates the user and
/etc/cliser/*.toml (docs/raspberry-pi.md, "Installing the Debian packages"). The config, the password,
the token and the CA are then provisioned as below. The package says whether it is the server or
the client; its architecture must be HOST's (`dpkg --print-architecture` there). A package of the
version already installed is not installed again (give a rebuilt one a new version:
package.sh --deb-version). What an earlier deploy without --deb installed in its place (the
binary in /usr/local/bin, the unit in /etc/systemd/system, the rule in /etc/udev/rules.d) is
disabled and removed first; the user, the config and the secrets are kept.

Then it restarts the service if anything changed, and follows its journal for a few seconds so
you see it connect. It is idempotent: a second run with the same binary changes nothing and does
not restart the service. USER must be root or may use sudo on HOST (you may be asked for the sudo
password). You need ssh access to HOST, e.g. `ssh-copy-id USER@HOST` first.

Building, for HOST's architecture (`uname -m` there): for aarch64 (a Pi 5), with `cross` when it
is installed and docker or podman is running (image pinned in cross.toml, target dir
target/cross), else with plain cargo
and Debian's aarch64 linker (`sudo apt install gcc-aarch64-linux-gnu` and `rustup target add
aarch64-unknown-linux-gnu`, see .cargo/config.toml); it says which. For a HOST of this machine's
own architecture (e.g. the server on an x86_64 PC), a plain `cargo build --release`. The binary
is stripped of its symbols when the matching strip tool is installed.

The password: from $CLISER_PASSWORD, else asked for on the terminal if HOST has none yet; an
existing one is kept unless CLISER_PASSWORD is set. It is never printed, never put on a command
line: it travels inside the ssh stream and lands only in /etc/cliser/password.

A Pi's own token (a server with --clients-file; docs/SECURITY.md): make it on the server and hand
it to deploy.sh in a file or on stdin, e.g.
  ssh admin@server sudo cliser-server --config /etc/cliser/server.toml add-client pi-kitchen |
      deploy/deploy.sh --id pi-kitchen --token-file - pi@pi-kitchen.local
  ssh admin@server sudo systemctl reload cliser-server
The token is handled like the password (never printed, never on a command line) and lands only in
/etc/cliser/token; a Pi with a token needs no fleet password. An existing token is kept unless a
new one is given.

TLS (docs/SECURITY.md): hand the fleet CA's certificate (ca.pem of `cliser-server gen-tls`) and a
tls:// server address, e.g.
  deploy/deploy.sh --tls-ca tls/ca.pem --server-addr tls://cliser-server.local:1112 pi@pi-kitchen.local
The CA lands in /etc/cliser/ca.pem (0400, owned by cliser) and the config's tls-ca points to it; a
new CA file (a rotation: several CAs in one file) replaces it. An existing one is kept otherwise.

Options:
  --server              deploy cliser-server instead of cliser-pi-client
  --deb PACKAGE.deb     install this Debian package (deploy/package.sh) instead of a binary
  --id ID               the client's id, written into the config (default for a new config: the
                        Pi's host name, as the client itself would use)
  --server-addr H:P     the server the client connects to, written into the config (tls://H:P
                        for TLS; several, comma-separated, are tried in order)
                        (default for a new config: cliser-server.local:1111 from the example)
  --config FILE         install FILE as the config (replacing the one on HOST if different)
  --token-file FILE     the Pi's own token (first line of FILE; - reads stdin), installed as
                        /etc/cliser/token and used as its password-file
  --tls-ca FILE         the fleet CA's certificate(s), installed as /etc/cliser/ca.pem and set as
                        the config's tls-ca (the server must then be tls://HOST:PORT)
  --restart             restart the service even if nothing changed
  --follow SECONDS      follow the journal this long after the restart (default 8; 0: just print
                        the last lines)
  -n, --dry-run         build nothing, change nothing: connect, compare and print what would be done
  -p, --port PORT       ssh port
  -i, --identity FILE   ssh private key
  -o, --ssh-option OPT  an ssh -o option, e.g. -o StrictHostKeyChecking=accept-new (repeatable)
  --binary PATH         install this prebuilt binary instead of building one
  --builder B           auto (default: cross if installed, else cargo), cross or cargo
  --build-only          only build, for aarch64; print the binary's path on stdout
  -h, --help            this text

For tests (installing somewhere harmless, without a Pi and without root):
  --root DIR            install everything under DIR on HOST instead of / (the paths written in
                        the config and unit stay the real ones)           [env CLISER_DEPLOY_ROOT]
  --remote-path DIRS    put DIRS first on the PATH of the install on HOST, so that stand-ins for
                        systemctl, journalctl, useradd, usermod, getent, chown and udevadm found there are
                        used instead of the real ones                     [env CLISER_REMOTE_PATH]
  SSH="ssh -F FILE"     the ssh command (and leading options) to use (default: ssh)
  Example: deploy/deploy.sh --binary /bin/true --root /tmp/fake-pi --remote-path /tmp/stubs \
               -p 2222 -i key -o StrictHostKeyChecking=no root@127.0.0.1

Environment: CLISER_PASSWORD, CLISER_ADMIN_PASSWORD (--server: the console's password, written to
/etc/cliser/admin-password), CLISER_BUILDER, CARGO_TARGET_DIR (the plain cargo build's).

Exit status: 0 deployed and running, 1 failure, 2 bad usage.
EOF
}

say() { printf 'deploy: %s\n' "$*" >&2; }
die() { printf 'deploy: error: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'deploy: %s\nTry deploy/deploy.sh --help\n' "$*" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ws=$(cd "$here/.." && pwd)
triple=aarch64-unknown-linux-gnu

kind=client binary="" builder=${CLISER_BUILDER:-auto} dry=0 build_only=0 restart=0 follow=8
port="" identity="" ssh_opts=() root=${CLISER_DEPLOY_ROOT:-/} remote_path=${CLISER_REMOTE_PATH:-}
id="" server_addr="" config="" target="" token_file="" tls_ca="" deb="" root_given=0

need_arg() { [ "$2" -ge 2 ] || usage_error "$1 needs a value"; }
while [ $# -gt 0 ]; do
    if [[ $1 == --*=* ]]; then set -- "${1%%=*}" "${1#*=}" "${@:2}"; fi
    case $1 in
        -h | --help) usage; exit 0 ;;
        --server) kind=server; shift ;;
        --binary) need_arg "$1" $#; binary=$2; shift 2 ;;
        --builder) need_arg "$1" $#; builder=$2; shift 2 ;;
        --build-only) build_only=1; shift ;;
        -n | --dry-run) dry=1; shift ;;
        --restart) restart=1; shift ;;
        --follow) need_arg "$1" $#; follow=$2; shift 2 ;;
        -p | --port) need_arg "$1" $#; port=$2; shift 2 ;;
        -i | --identity) need_arg "$1" $#; identity=$2; shift 2 ;;
        -o | --ssh-option) need_arg "$1" $#; ssh_opts+=(-o "$2"); shift 2 ;;
        --root) need_arg "$1" $#; root=$2; root_given=1; shift 2 ;;
        --deb) need_arg "$1" $#; deb=$2; shift 2 ;;
        --remote-path) need_arg "$1" $#; remote_path=$2; shift 2 ;;
        --id) need_arg "$1" $#; id=$2; shift 2 ;;
        --server-addr) need_arg "$1" $#; server_addr=$2; shift 2 ;;
        --config) need_arg "$1" $#; config=$2; shift 2 ;;
        --token-file) need_arg "$1" $#; token_file=$2; shift 2 ;;
        --tls-ca) need_arg "$1" $#; tls_ca=$2; shift 2 ;;
        --) shift; break ;;
        -*) usage_error "unknown option: $1" ;;
        *) [ -z "$target" ] || usage_error "more than one USER@HOST: $target $1"; target=$1; shift ;;
    esac
done
if [ $# -gt 0 ]; then
    if [ -n "$target" ] || [ $# -ne 1 ]; then usage_error "unexpected arguments: $*"; fi
    target=$1
fi

if [ -n "$deb" ]; then
    [ -f "$deb" ] || usage_error "--deb: no such file: $deb"
    [ -z "$binary" ] || usage_error "--deb and --binary exclude each other"
    [ "$build_only" -eq 0 ] || usage_error "--deb and --build-only exclude each other"
    command -v dpkg-deb >/dev/null 2>&1 || die "--deb needs dpkg-deb here (apt install dpkg)"
    deb_name=$(dpkg-deb -f "$deb" Package 2>/dev/null) || usage_error "--deb: $deb is not a Debian package"
    deb_arch=$(dpkg-deb -f "$deb" Architecture)
    deb_version=$(dpkg-deb -f "$deb" Version)
    case $deb_name in
        cliser-server) kind=server ;;
        cliser-pi-client) [ "$kind" = client ] || usage_error "--server, but $deb is cliser-pi-client"; kind=client ;;
        *) usage_error "--deb: $deb is $deb_name, not cliser-server or cliser-pi-client" ;;
    esac
    # dpkg and apt install into the real root; the tests' --root is for the file-copying deploy.
    if [ "$root_given" -eq 1 ] || [ "$root" != / ]; then usage_error "--deb installs into HOST's /: no --root"; fi
fi
if [ "$kind" = server ]; then name=cliser-server example=server.example.toml; else name=cliser-pi-client example=pi-client.example.toml; fi
case $builder in auto | cross | cargo) ;; *) usage_error "--builder must be auto, cross or cargo, not '$builder'" ;; esac
[[ $follow =~ ^[0-9]+$ ]] || usage_error "--follow takes whole seconds, not '$follow'"
[ -z "$port" ] || [[ $port =~ ^[0-9]+$ ]] || usage_error "--port takes a number, not '$port'"
[[ $root == /* ]] || usage_error "--root must be an absolute path, not '$root'"
[ -z "$remote_path" ] || [[ $remote_path == /* ]] || usage_error "--remote-path must be absolute, not '$remote_path'"
if [ -n "$id" ]; then
    [ "$kind" = client ] || usage_error "--id is for the client"
    [[ $id =~ ^[A-Za-z0-9._-]{1,32}$ ]] || usage_error "--id must be 1-32 of A-Z a-z 0-9 . _ -, not '$id'"
fi
if [ -n "$server_addr" ]; then
    [ "$kind" = client ] || usage_error "--server-addr is for the client"
    one='(tls://)?[][A-Za-z0-9.:_-]+:[0-9]+'
    [[ $server_addr =~ ^$one(,$one)*$ ]] || usage_error "--server-addr must be [tls://]HOST:PORT[,...], not '$server_addr'"
fi
[ -z "$config" ] || [ -f "$config" ] || usage_error "--config: no such file: $config"
if [ -n "$token_file" ]; then
    [ "$kind" = client ] || usage_error "--token-file is for the client (the server keeps the hashes: add-client)"
    [ "$token_file" = - ] || [ -r "$token_file" ] || usage_error "--token-file: cannot read $token_file"
fi
if [ -n "$tls_ca" ]; then
    [ "$kind" = client ] || usage_error "--tls-ca is for the client (the server takes --tls-cert and --tls-key in its config)"
    [ -r "$tls_ca" ] || usage_error "--tls-ca: cannot read $tls_ca"
    grep -q -- '-----BEGIN CERTIFICATE-----' "$tls_ca" || usage_error "--tls-ca: $tls_ca holds no PEM certificate (ca.pem of cliser-server gen-tls)"
    ! grep -q -- 'PRIVATE KEY-----' "$tls_ca" || usage_error "--tls-ca: $tls_ca holds a private key; hand only the certificate (ca.pem), the key stays on the server"
    for s in ${server_addr//,/ }; do
        [[ $s == tls://* ]] || usage_error "--tls-ca needs tls:// servers, not '$server_addr'"
    done
fi
[ -z "$binary" ] || [ -f "$binary" ] || usage_error "--binary: no such file: $binary"
[ "$build_only" -eq 1 ] || [ -n "$target" ] || usage_error "which Pi? give USER@HOST"
if [ -n "$deb" ] && [ "$kind" = server ] && [ -n "$id$server_addr$token_file$tls_ca" ]; then
    usage_error "--id, --server-addr, --token-file and --tls-ca are for the client, and $deb is cliser-server"
fi

# ---- build --------------------------------------------------------------------------------------

# container_engine_up: the engine cross would use answers.
container_engine_up() {
    local engine=${CROSS_CONTAINER_ENGINE:-}
    if [ -z "$engine" ]; then
        if command -v docker >/dev/null 2>&1; then engine=docker; elif command -v podman >/dev/null 2>&1; then engine=podman; else return 1; fi
    fi
    timeout 20 "$engine" info >/dev/null 2>&1
}

built=""
# build ARCH: build $name for a machine whose `uname -m` is ARCH; sets $built (not in a dry run).
build() {
    local arch=$1 use=$builder why="" out cmd tdir
    tdir=${CARGO_TARGET_DIR:-$ws/target}
    [[ $tdir == /* ]] || tdir=$ws/$tdir
    if [ "$arch" = "$(uname -m)" ] && [ "$arch" != aarch64 ]; then
        # E.g. the server on an x86_64 PC, deployed from an x86_64 PC: a native build.
        say "building $name for $arch, this machine's own architecture, with cargo"
        out=$tdir/release/$name
        cmd=(cargo build --release -p "$name")
    elif [ "$arch" != aarch64 ]; then
        die "cannot build for $arch here (only aarch64, and this machine's $(uname -m)); use --binary"
    else
        if [ "$use" = auto ]; then
            if ! command -v cross >/dev/null 2>&1; then
                use=cargo why=" (cross is not installed)"
            elif ! container_engine_up; then
                use=cargo why=" (cross is installed, but no docker or podman is running for it)"
            else
                use=cross why=" (cross is installed)"
            fi
        fi
        if [ "$use" = cross ]; then
            command -v cross >/dev/null 2>&1 || die "cross is not installed: cargo install cross --version 0.2.5, or --builder cargo"
            say "building $name for $triple with cross$why; image pinned in cross.toml, target dir target/cross"
            out=$ws/target/cross/$triple/release/$name
            cmd=(env "CROSS_CONFIG=$ws/cross.toml" cross build --release --target "$triple" -p "$name" --target-dir "$ws/target/cross")
        else
            say "building $name for $triple with cargo and aarch64-linux-gnu-gcc$why"
            if [ "$dry" -eq 0 ]; then
                command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || die "no aarch64-linux-gnu-gcc: sudo apt install gcc-aarch64-linux-gnu (or install cross)"
                if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$triple"; then
                    die "the $triple standard library is missing: rustup target add $triple"
                fi
            fi
            out=$tdir/$triple/release/$name
            cmd=(cargo build --release --target "$triple" -p "$name")
        fi
        # On a Pi the client can also bit-bang a GPIO (sensor = "gpio:4") when the w1 overlay
        # cannot be used; the w1 driver stays the default and the recommendation.
        [ "$name" = cliser-pi-client ] && cmd+=(--features gpio)
    fi
    if [ "$dry" -eq 1 ]; then
        say "dry run: would run (in $ws): ${cmd[*]}"
        return 0
    fi
    (cd "$ws" && "${cmd[@]}") >&2 || die "the build failed"
    [ -f "$out" ] || die "the build did not produce $out"
    built=$out
}

if [ "$build_only" -eq 1 ]; then
    build aarch64
    [ "$dry" -eq 1 ] || printf '%s\n' "$built"
    exit 0
fi

# ---- ssh ----------------------------------------------------------------------------------------

read -r -a ssh <<<"${SSH:-ssh}"
[ -n "$port" ] && ssh+=(-p "$port")
[ -n "$identity" ] && ssh+=(-i "$identity")
ssh+=("${ssh_opts[@]}")
# One connection for all the steps (one password or passphrase prompt, not three).
ctl=$(mktemp -d "/tmp/cliser-ssh.XXXXXX")
ssh+=(-o ControlMaster=auto -o "ControlPath=$ctl/%C" -o ControlPersist=60)
stage=""
cleanup() {
    if [ -n "$(ls -A "$ctl" 2>/dev/null)" ]; then "${ssh[@]}" -O exit "$target" >/dev/null 2>&1 || true; fi
    rm -rf "$ctl"
    if [ -n "$stage" ]; then rm -rf "$stage"; fi
}
trap cleanup EXIT

# quote ARGS...: one string the remote shell splits back into ARGS.
quote() {
    local out="" a
    for a in "$@"; do out+="$(printf '%q' "$a") "; done
    printf '%s' "${out% }"
}

remote_args=(--root "$root")
[ -n "$remote_path" ] && remote_args+=(--path-prepend "$remote_path")

say "connecting to $target"
probe=$("${ssh[@]}" "$target" "bash -s -- $(quote --probe "${remote_args[@]}")" <"$here/remote-install.sh") ||
    die "cannot run commands on $target over ssh (try: ssh $target true)"
fact() { sed -n "s/^$1=//p" <<<"$probe" | head -n 1; }
remote_arch=$(fact arch)
remote_host=$(fact host)
say "$target is $remote_host ($remote_arch), $( [ "$(fact uid)" = 0 ] && echo "logged in as root" || echo "using sudo there")"
[ "$(fact systemd)" = yes ] || die "$remote_host has no systemctl: cliser's service needs systemd (Raspberry Pi OS has it)"
[ "$(fact root)" = yes ] || die "$target is neither root nor has sudo on $remote_host"
if [ -n "$deb" ]; then
    remote_dpkg_arch=$(fact dpkg_arch)
    [ -n "$remote_dpkg_arch" ] || die "$remote_host has no dpkg: install the binary instead (no --deb)"
    [ "$deb_arch" = "$remote_dpkg_arch" ] || die "$deb is for $deb_arch, and $remote_host is $remote_dpkg_arch (package.sh builds both)"
    say "package: $deb_name $deb_version ($deb_arch), installed there with $( [ "$(fact apt)" = yes ] && echo apt-get || echo "dpkg -i (no apt-get there)")"
elif [ "$remote_arch" != aarch64 ] && [ "$kind" = client ]; then
    say "note: $remote_host is $remote_arch, not aarch64: not a Pi 5 with 64-bit Raspberry Pi OS"
fi

# ---- the binary ---------------------------------------------------------------------------------

if [ -n "$deb" ]; then
    :
elif [ -n "$binary" ]; then
    say "using the prebuilt binary $binary (no build)"
else
    build "$remote_arch"
    [ -z "$built" ] || binary=$built
fi

# ---- the password and the token -----------------------------------------------------------------

password="" have_password=0 token="" have_token=0
check_password() {
    [ -n "$1" ] || die "$2 is empty"
    [[ $1 != *$'\n'* && $1 != *$'\r'* ]] || die "$2 must be one line"
}
if [ -n "$token_file" ]; then
    # Read by the shell itself: the token is never an argument of another program.
    token_from=$token_file
    if [ "$token_file" != - ]; then
        token=$(<"$token_file")
    elif [ -t 0 ]; then
        read -r -s -p "This Pi's token (from cliser-server add-client): " token
        echo >&2
        token_from="the terminal"
    else
        token=$(</dev/stdin) token_from=stdin
    fi
    token=${token%$'\r'}
    check_password "$token" "the token from $token_from"
    have_token=1
    say "token: from $token_from (it becomes the Pi's password-file)"
elif [ "$kind" = client ] && [ "$(fact token)" = present ]; then
    say "token: keeping the one already on $remote_host (--token-file to replace it)"
fi
# A Pi that logs in with its own token needs no fleet password.
token_in_place=0
if [ "$have_token" -eq 1 ] || { [ "$kind" = client ] && [ "$(fact token)" = present ]; }; then token_in_place=1; fi
if [ -n "${CLISER_PASSWORD+set}" ]; then
    password=$CLISER_PASSWORD
    check_password "$password" CLISER_PASSWORD
    have_password=1
    say "password: from CLISER_PASSWORD"
elif [ "$(fact password)" = present ]; then
    say "password: keeping the one already on $remote_host (set CLISER_PASSWORD to replace it)"
elif [ "$token_in_place" -eq 1 ]; then
    say "password: none needed, $remote_host logs in with its own token"
elif [ "$dry" -eq 1 ]; then
    say "password: $remote_host has none yet; a real run would take CLISER_PASSWORD or ask for it"
elif [ -t 0 ]; then
    read -r -s -p "Password the clients and the server share (for $remote_host): " password
    echo >&2
    read -r -s -p "The same again: " again
    echo >&2
    [ "$password" = "$again" ] || die "the two passwords differ"
    check_password "$password" "the password"
    have_password=1
else
    die "$remote_host has no password yet: set CLISER_PASSWORD (or run deploy.sh from a terminal to be asked)"
fi
admin_password="" have_admin=0
if [ -n "${CLISER_ADMIN_PASSWORD+set}" ]; then
    if [ "$kind" = server ]; then
        admin_password=$CLISER_ADMIN_PASSWORD
        check_password "$admin_password" CLISER_ADMIN_PASSWORD
        have_admin=1
    else
        say "warning: CLISER_ADMIN_PASSWORD is for --server; ignored"
    fi
fi

# ---- stage, upload, install ---------------------------------------------------------------------

stage=$(mktemp -d "${TMPDIR:-/tmp}/cliser-deploy.XXXXXX")
chmod 0700 "$stage"
cp "$here/remote-install.sh" "$stage/remote-install.sh"
if [ -n "$deb" ]; then
    cp "$deb" "$stage/package.deb"
    # The package's own example: the config a first install starts from, as its postinst makes it.
    dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "./etc/cliser/$example" >"$stage/example.toml" ||
        die "$deb holds no /etc/cliser/$example"
else
    cp "$here/$name.service" "$stage/unit"
    if [ "$kind" = client ]; then cp "$here/60-cliser-w1.rules" "$stage/w1.rules"; fi
    cp "$here/$example" "$stage/example.toml"
fi
[ -z "$config" ] || cp "$config" "$stage/config.toml"
[ -z "$tls_ca" ] || cp "$tls_ca" "$stage/ca.pem"
if [ -n "$binary" ]; then
    cp "$binary" "$stage/bin"
    chmod 0755 "$stage/bin"
    strip=""
    if [ "$remote_arch" = aarch64 ]; then strip=aarch64-linux-gnu-strip; elif [ "$remote_arch" = "$(uname -m)" ]; then strip="strip"; fi
    if [ -n "$built" ] && [ -n "$strip" ] && command -v "$strip" >/dev/null 2>&1; then
        "$strip" "$stage/bin"
        say "stripped the symbols: $(wc -c <"$binary") -> $(wc -c <"$stage/bin") bytes"
    fi
fi
(
    umask 077
    [ "$have_password" -eq 0 ] || printf '%s\n' "$password" >"$stage/password"
    [ "$have_admin" -eq 0 ] || printf '%s\n' "$admin_password" >"$stage/admin-password"
    [ "$have_token" -eq 0 ] || printf '%s\n' "$token" >"$stage/token"
)
password="" admin_password="" token=""

say "uploading to $target"
# Expanded on the Pi: a private (0700) temp dir there, whose name comes back on stdout.
# shellcheck disable=SC2016
unpack='umask 077 && d=$(mktemp -d "${TMPDIR:-/tmp}/cliser-deploy.XXXXXX") && tar --no-same-owner -xf - -C "$d" && echo "$d"'
remote_dir=$(tar -C "$stage" -cf - . | "${ssh[@]}" "$target" "$unpack") ||
    die "the upload to $target failed"
[[ $remote_dir == /* ]] || die "the upload to $target failed (no temp dir came back)"

remote_args+=(--name "$name" --follow "$follow")
[ "$dry" -eq 0 ] || remote_args+=(--dry-run)
[ -z "$deb" ] || remote_args+=(--deb)
[ "$restart" -eq 0 ] || remote_args+=(--restart)
[ -z "$id" ] || remote_args+=(--id "$id")
[ -z "$server_addr" ] || remote_args+=(--server-addr "$server_addr")
# A terminal for sudo's password prompt, when there is one here.
tty=()
if [ -t 0 ] && [ -t 1 ]; then tty=(-t -o LogLevel=ERROR); fi
rc=0
"${ssh[@]}" "${tty[@]}" "$target" \
    "bash $(quote "$remote_dir/remote-install.sh" "${remote_args[@]}"); rc=\$?; rm -rf $(quote "$remote_dir"); exit \$rc" || rc=$?
if [ "$rc" -ne 0 ]; then
    die "the install on $target failed (exit $rc; see above)"
fi
if [ "$dry" -eq 1 ]; then
    say "dry run done: nothing was built or changed"
else
    say "done: $name on $remote_host; watch it with: ssh $target journalctl -u $name -f"
fi
