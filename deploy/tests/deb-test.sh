#!/usr/bin/env bash
# The Debian packages (deploy/package.sh), installed for real with dpkg on THIS machine, as root:
#   - all four built; the amd64 and arm64 packages list the same files, modes and owners; the arm64
#     binaries are aarch64 ELF and run --version under qemu-aarch64
#   - dpkg -i: files, owners and modes, the user cliser, the state dirs, the configs made from the
#     examples, the units enabled, `systemd-analyze verify` clean, the postinst saying why the
#     service is not started yet; the installed server (as cliser, port 0, --ready-file) logs the
#     readings of the installed client (as cliser, simulated sensor)
#   - an upgrade to a higher version, whose example config changed, with /etc/cliser/server.toml
#     edited: the edit kept, no question asked (no terminal, no --force-conf*)
#   - dpkg -r keeps /etc/cliser and /var/lib data and the user; dpkg -P deletes them
#   - deploy.sh --deb over a real sshd (systemctl and journalctl are stand-ins: systemd need not run)
# It refuses to run (SKIPPED; a failure under CLISER_REQUIRE_PARTS=1) unless root, and where a
# cliser package, user or group, /etc/cliser or /var/lib/cliser* is there already: it would purge
# them. Whatever happens, it purges what it installed (trap).
#
#   bash deploy/tests/deb-test.sh      (prints "N passed, 0 failed"; the builds are deploy/package.sh's)
#
# Honours CARGO_TARGET_DIR (default: the workspace's target/), shared with qemu-test.sh's aarch64
# build and soak.sh's release build.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/tests/harness.sh
. "$here/harness.sh"
ws=$(cd "$here/../.." && pwd)
triple=aarch64-unknown-linux-gnu

fail_logs=(package.log install.log upgrade.log server.log client.log deploy.out)
server_pid=""
client_pid=""

skip() { # skip REASON: SKIPPED, or a failure when parts are required
    echo "SKIPPED: $*"
    if [ "${CLISER_REQUIRE_PARTS:-}" = 1 ]; then echo "0 passed, 1 failed"; exit 1; fi
    exit 0
}
[ "$(id -u)" -eq 0 ] || skip "not root (deb-test.sh installs packages into this machine with dpkg)"

# ---- is this machine's cliser ours to purge? ------------------------------------------------------
for p in cliser-server cliser-pi-client; do
    case $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true) in
        "" | not-installed) ;;
        *) skip "package $p is installed on this machine (not by this test, which would purge it)" ;;
    esac
done
getent passwd cliser >/dev/null && skip "a user cliser exists on this machine (this test would delete it)"
getent group cliser >/dev/null && skip "a group cliser exists on this machine (this test would delete it)"
# ... and deploy.sh's copies, which the test makes and deploy.sh --deb takes over.
old_deploy=(/usr/local/bin/cliser-pi-client /etc/systemd/system/cliser-pi-client.service /etc/udev/rules.d/60-cliser-w1.rules
    /etc/systemd/system/multi-user.target.wants/cliser-pi-client.service)
for d in /etc/cliser /var/lib/cliser /var/lib/cliser-server /usr/local/bin/cliser-server /etc/systemd/system/cliser-server.service "${old_deploy[@]}"; do
    if [ -e "$d" ] || [ -L "$d" ]; then skip "$d exists on this machine (this test would delete it)"; fi
done

# shellcheck source=deploy/tests/test-sshd.sh
. "$here/test-sshd.sh"
purge_all() {
    local p
    for p in cliser-pi-client cliser-server; do
        case $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true) in
            "" | not-installed) ;;
            *) DEBIAN_FRONTEND=noninteractive dpkg -P "$p" </dev/null >/dev/null 2>&1 || echo "# could not purge $p" ;;
        esac
    done
}
cleanup() {
    stop_proc "$client_pid"
    stop_proc "$server_pid"
    stop_test_sshd
    purge_all
    rm -f "${old_deploy[@]}"
    if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT


# ---- what it needs ------------------------------------------------------------------------------
missing=()
for pair in aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu qemu-aarch64:qemu-user file:file sshd:openssh-server \
    ssh:openssh-client python3:python3 systemd-analyze:systemd runuser:util-linux; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
done
[ -d /usr/aarch64-linux-gnu/lib ] || missing+=(libc6-dev-arm64-cross)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$triple"; then
    rustup target add "$triple"
fi
command -v cargo-deb >/dev/null 2>&1 || fail "cargo-deb is not installed: cargo install cargo-deb --version 3.8.0 --locked (.ci/run does)"

tmp=$(mktemp -d /tmp/cliser-deb-test.XXXXXX)
chmod 0755 "$tmp"

# ---- the four packages --------------------------------------------------------------------------
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ws/Cargo.toml" | head -n 1)
v1=$version-1 v2=$version-2
t0=$SECONDS
"$ws/deploy/package.sh" --out "$tmp/v1" >"$tmp/v1.list" 2>"$tmp/package.log" || fail "deploy/package.sh failed"
check "package.sh built four packages ($(elapsed "$t0"), the builds included)" test "$(wc -l <"$tmp/v1.list")" -eq 4
while read -r path size; do
    echo "   $(basename "$path"): $size bytes"
done <"$tmp/v1.list"
deb() { echo "$tmp/$1/$2_$3_$4.deb"; } # deb DIR NAME VERSION ARCH
for name in cliser-server cliser-pi-client; do
    for arch in amd64 arm64; do
        check "$(basename "$(deb v1 $name "$v1" $arch)"): named for the version in Cargo.toml, listed with its size" \
            grep -qx "$(deb v1 $name "$v1" $arch) [0-9]*" "$tmp/v1.list"
    done
done

# What a package holds: "MODE UID/GID PATH" a line (sizes and dates differ between builds and architectures).
layout() { dpkg-deb -c "$1" | awk '{ print $1, $2, $6 }' | sort; }
for name in cliser-server cliser-pi-client; do
    check "$name: amd64 and arm64 hold the same files, modes and owners" \
        test "$(layout "$(deb v1 $name "$v1" amd64)")" = "$(layout "$(deb v1 $name "$v1" arm64)")"
done
server_layout=$(layout "$(deb v1 cliser-server "$v1" amd64)")
client_layout=$(layout "$(deb v1 cliser-pi-client "$v1" amd64)")
has_lines() { # has_lines TEXT LINE...
    local text=$1 l
    shift
    for l in "$@"; do grep -qxF -- "$l" <<<"$text" || { echo "missing: $l"; return 1; }; done
}
check "cliser-server holds the binary, the unit, the example config (conffile) and the --help text" \
    has_lines "$server_layout" "-rwxr-xr-x 0/0 ./usr/bin/cliser-server" \
    "-rw-r--r-- 0/0 ./lib/systemd/system/cliser-server.service" \
    "-rw-r--r-- 0/0 ./etc/cliser/server.example.toml" \
    "-rw-r--r-- 0/0 ./usr/share/doc/cliser-server/help.txt" \
    "-rw-r--r-- 0/0 ./usr/share/doc/cliser-server/copyright"
check "cliser-pi-client holds the binary, the unit, the udev rule, the example config and the --help text" \
    has_lines "$client_layout" "-rwxr-xr-x 0/0 ./usr/bin/cliser-pi-client" \
    "-rw-r--r-- 0/0 ./lib/systemd/system/cliser-pi-client.service" \
    "-rw-r--r-- 0/0 ./lib/udev/rules.d/60-cliser-w1.rules" \
    "-rw-r--r-- 0/0 ./etc/cliser/pi-client.example.toml" \
    "-rw-r--r-- 0/0 ./usr/share/doc/cliser-pi-client/help.txt"
check "neither ships its config, a secret or a state dir (postinst makes them)" \
    bash -c "! { dpkg-deb -c '$(deb v1 cliser-server "$v1" amd64)' && dpkg-deb -c '$(deb v1 cliser-pi-client "$v1" amd64)'; } | grep -Eq '/etc/cliser/(server|pi-client)\\.toml|password|/var/lib'"
for name in cliser-server cliser-pi-client; do
    cfg=${name#cliser-}
    for arch in amd64 arm64; do
        p=$(deb v1 $name "$v1" $arch)
        check "$(basename "$p"): Architecture $arch, conffile /etc/cliser/$cfg.example.toml only, Depends on libc6 and passwd" \
            bash -c "[ \"\$(dpkg-deb -f '$p' Architecture)\" = $arch ] && [ \"\$(dpkg-deb --ctrl-tarfile '$p' | tar -xOf - ./conffiles)\" = /etc/cliser/$cfg.example.toml ] \
                && dpkg-deb -f '$p' Depends | grep -q 'libc6' && dpkg-deb -f '$p' Depends | grep -q 'passwd'"
    done
done

# The arm64 binaries: aarch64 ELF, stripped, --version under qemu.
for name in cliser-server cliser-pi-client; do
    x=$tmp/x-$name
    dpkg-deb -x "$(deb v1 $name "$v1" arm64)" "$x"
    kind=$(file -b "$x/usr/bin/$name")
    check "arm64 $name: $(cut -d, -f1-2 <<<"$kind"), stripped" \
        bash -c "[[ '$kind' == 'ELF 64-bit LSB'*'ARM aarch64'* && '$kind' == *', stripped'* ]]"
    out=$(qemu-aarch64 -L /usr/aarch64-linux-gnu "$x/usr/bin/$name" --version 2>&1) || fail "qemu-aarch64 $name --version: $out"
    check "arm64 $name --version under qemu-aarch64: $out" test "$out" = "$name $version"
    dpkg-deb -x "$(deb v1 $name "$v1" amd64)" "$x-amd64"
    check "amd64 $name is stripped" bash -c "file -b '$x-amd64/usr/bin/$name' | grep -q ', stripped'"
done

# The upgrade: the same binaries as a higher version, and the server's example config changed in it
# (repacked), so that dpkg has a new conffile to handle.
"$ws/deploy/package.sh" --arch amd64 --no-build --deb-version "$v2" --out "$tmp/v2" >/dev/null 2>>"$tmp/package.log" ||
    fail "package.sh --deb-version $v2 failed"
repack=$tmp/repack
dpkg-deb -R "$(deb v2 cliser-server "$v2" amd64)" "$repack"
echo '# (a line the upgrade added to the example)' >>"$repack/etc/cliser/server.example.toml"
(cd "$repack" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | sort | xargs md5sum >DEBIAN/md5sums)
dpkg-deb --root-owner-group -b "$repack" "$(deb v2 cliser-server "$v2" amd64)" >/dev/null
check "version $v2 of both, the server's with a changed example config" \
    bash -c "[ \"\$(dpkg-deb -f '$(deb v2 cliser-server "$v2" amd64)' Version)\" = $v2 ] && [ \"\$(dpkg-deb -f '$(deb v2 cliser-pi-client "$v2" amd64)' Version)\" = $v2 ]"

# ---- dpkg -i ------------------------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
t0=$(date +%s%N)
dpkg -i "$(deb v1 cliser-pi-client "$v1" amd64)" </dev/null >"$tmp/install.log" 2>&1 || fail "dpkg -i cliser-pi-client failed"
client_ms=$((($(date +%s%N) - t0) / 1000000))
t0=$(date +%s%N)
dpkg -i "$(deb v1 cliser-server "$v1" amd64)" </dev/null >>"$tmp/install.log" 2>&1 || fail "dpkg -i cliser-server failed"
server_ms=$((($(date +%s%N) - t0) / 1000000))
check "dpkg -i: cliser-pi-client in $client_ms ms, cliser-server in $server_ms ms, no terminal" \
    bash -c "dpkg-query -W -f='\${Status}\n' cliser-pi-client cliser-server | grep -c 'install ok installed' | grep -qx 2"

perms() { stat -c '%a %U:%G' "$1"; }
check "the user cliser: a system user, group cliser, home /var/lib/cliser, no login shell" \
    bash -c "IFS=: read -r _ _ uid gid _ home shell < <(getent passwd cliser) && [ \$uid -lt 1000 ] && [ \"\$(getent group cliser | cut -d: -f3)\" = \$gid ] \
        && [ \$home = /var/lib/cliser ] && [ \$shell = /usr/sbin/nologin ]"
check "binaries: /usr/bin, 0755 root" bash -c "[ \"\$(stat -c '%a %U:%G' /usr/bin/cliser-server)\" = '755 root:root' ] && [ \"\$(stat -c '%a %U:%G' /usr/bin/cliser-pi-client)\" = '755 root:root' ]"
check "/usr/bin/cliser-server --version" test "$(/usr/bin/cliser-server --version)" = "cliser-server $version"
check "units: /lib/systemd/system, 0644 root, ExecStart=/usr/bin/..." \
    bash -c "for u in cliser-server cliser-pi-client; do [ \"\$(stat -c '%a %U' /lib/systemd/system/\$u.service)\" = '644 root' ] && grep -qx \"ExecStart=/usr/bin/\$u --config /etc/cliser/\${u#cliser-}.toml\" /lib/systemd/system/\$u.service || exit 1; done"
check "the units: deploy/'s, but for /usr/bin and a start condition (a secret in place)" \
    bash -c "diff <(grep -Ev '^(#|$)' '$ws/deploy/cliser-pi-client.service' | sed 's#/usr/local/bin/#/usr/bin/#') <(grep -Ev '^(#|$)' /lib/systemd/system/cliser-pi-client.service) | grep '^[<>]' | sort | tr '\n' ' ' | grep -qx '> ConditionPathExists=|/etc/cliser/password > ConditionPathExists=|/etc/cliser/token '"
verify_out=$(SYSTEMD_LOG_TARGET=console systemd-analyze verify --man=no /lib/systemd/system/cliser-server.service /lib/systemd/system/cliser-pi-client.service 2>&1) ||
    fail "systemd-analyze verify of the installed units failed: $verify_out"
check "systemd-analyze verify: the installed units are clean" test -z "$verify_out"
check "both units enabled (multi-user.target.wants)" \
    bash -c "[ \"\$(readlink /etc/systemd/system/multi-user.target.wants/cliser-server.service)\" = /lib/systemd/system/cliser-server.service ] && [ \"\$(readlink /etc/systemd/system/multi-user.target.wants/cliser-pi-client.service)\" = /lib/systemd/system/cliser-pi-client.service ]"
check "the udev rule: /lib/udev/rules.d/60-cliser-w1.rules, 0644, deploy/'s" \
    bash -c "[ \$(stat -c %a /lib/udev/rules.d/60-cliser-w1.rules) = 644 ] && cmp -s '$ws/deploy/60-cliser-w1.rules' /lib/udev/rules.d/60-cliser-w1.rules"
check "/etc/cliser 0755 root; server.toml and pi-client.toml 0644 root, copies of the examples" \
    bash -c "[ \"\$(stat -c '%a %U' /etc/cliser)\" = '755 root' ] && [ \"\$(stat -c '%a %U' /etc/cliser/server.toml)\" = '644 root' ] && [ \"\$(stat -c '%a %U' /etc/cliser/pi-client.toml)\" = '644 root' ] \
        && cmp -s '$ws/deploy/server.example.toml' /etc/cliser/server.toml && cmp -s '$ws/deploy/pi-client.example.toml' /etc/cliser/pi-client.toml"
check "state dirs /var/lib/cliser and /var/lib/cliser-server: 0750 cliser:cliser" \
    bash -c "[ \"\$(stat -c '%a %U:%G' /var/lib/cliser)\" = '750 cliser:cliser' ] && [ \"\$(stat -c '%a %U:%G' /var/lib/cliser-server)\" = '750 cliser:cliser' ]"
check "--help texts in /usr/share/doc (the server's with its subcommands)" \
    bash -c "grep -q '^Usage: cliser-server' /usr/share/doc/cliser-server/help.txt && grep -q '^==== cliser-server add-client --help' /usr/share/doc/cliser-server/help.txt && grep -q '^Usage: cliser-pi-client' /usr/share/doc/cliser-pi-client/help.txt"
check "postinst says each is not started until it has a password, and what to do" \
    bash -c "grep -q 'cliser-pi-client: installed and enabled, but not started' '$tmp/install.log' && grep -q 'cliser-server: installed and enabled, but not started' '$tmp/install.log' && grep -q 'systemctl start cliser-server.service' '$tmp/install.log'"

# ---- the installed programs, as the units run them: user cliser, the config, the state dir --------
password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
(umask 077 && printf '%s\n' "$password" >"$tmp/password.in")
install -m 0400 -o cliser -g cliser "$tmp/password.in" /etc/cliser/password
run=$tmp/run
install -d -m 0700 -o cliser -g cliser "$run"
runuser -u cliser -- env RUST_LOG=info STATE_DIRECTORY=/var/lib/cliser-server /usr/bin/cliser-server --config /etc/cliser/server.toml \
    --listen 127.0.0.1:0 --console 127.0.0.1:0 --http off --keepalive 1s --ready-file "$run/ready.json" 2>"$tmp/server.log" &
server_pid=$!
server_up() { [ -s "$run/ready.json" ] || ! kill -0 "$server_pid" 2>/dev/null; }
wait_for 30 server_up || fail "the installed server wrote no ready file within 30 s"
kill -0 "$server_pid" 2>/dev/null || fail "the installed server exited"
addr=$(sed -n 's/.*"listen":"\([^"]*\)".*/\1/p' "$run/ready.json")
check "the installed server runs as cliser with the installed config, on $addr (--ready-file)" test -n "$addr"
runuser -u cliser -- env RUST_LOG=info /usr/bin/cliser-pi-client --config /etc/cliser/pi-client.toml --server "$addr" \
    --id deb-test --sensor sim --interval 1s 2>"$tmp/client.log" &
client_pid=$!
reading() { grep -q 'reading cid=deb-test sensor=' "$tmp/server.log" || ! kill -0 "$client_pid" 2>/dev/null; }
wait_for 30 reading || fail "no reading of deb-test in the server log within 30 s"
kill -0 "$client_pid" 2>/dev/null || fail "the installed client exited"
check "the installed client (as cliser, simulated sensor) reaches it: $(grep -m1 -o 'reading cid=deb-test sensor=[^ ]* temp_c=[^ ]*' "$tmp/server.log")" true
stop_proc "$client_pid"
client_pid=""
stop_proc "$server_pid"
server_pid=""
check "the readings are in the state dir: /var/lib/cliser-server/cliser.db, cliser's" \
    test "$(stat -c %U /var/lib/cliser-server/cliser.db)" = cliser

# ---- the upgrade ----------------------------------------------------------------------------------
sed -i 's/^keepalive = "10s"$/keepalive = "15s"/' /etc/cliser/server.toml
echo '# edited by the administrator' >>/etc/cliser/server.toml
cp /etc/cliser/server.toml "$tmp/server.toml.edited"
rc=0
dpkg -i "$(deb v2 cliser-server "$v2" amd64)" "$(deb v2 cliser-pi-client "$v2" amd64)" </dev/null >"$tmp/upgrade.log" 2>&1 || rc=$?
check "dpkg -i of $v2 (no terminal, no --force-conf*) succeeds (exit $rc) without asking" \
    bash -c "[ $rc -eq 0 ] && ! grep -qi 'configuration file' '$tmp/upgrade.log'"
check "... both are $v2 now" bash -c "dpkg-query -W -f='\${Version}\n' cliser-server cliser-pi-client | sort -u | grep -qx '$v2'"
check "... the edited /etc/cliser/server.toml is kept as it was" cmp -s "$tmp/server.toml.edited" /etc/cliser/server.toml
check "... the new example is in place (the old one was not edited), no .dpkg-* files left" \
    bash -c "tail -n 1 /etc/cliser/server.example.toml | grep -q 'the upgrade added' && [ -z \"\$(find /etc/cliser -name '*.dpkg-*')\" ]"
check "... the password, the data and the config of the client are kept" \
    bash -c "cmp -s '$tmp/password.in' /etc/cliser/password && [ -s /var/lib/cliser-server/cliser.db ] && cmp -s '$ws/deploy/pi-client.example.toml' /etc/cliser/pi-client.toml"
check "... and postinst no longer says it lacks a password" bash -c "! grep -q 'not started' '$tmp/upgrade.log'"

# ---- remove and purge -----------------------------------------------------------------------------
dpkg -r cliser-server cliser-pi-client </dev/null >>"$tmp/upgrade.log" 2>&1 || fail "dpkg -r failed"
check "dpkg -r: binaries, units and the udev rule gone" \
    bash -c "[ ! -e /usr/bin/cliser-server ] && [ ! -e /usr/bin/cliser-pi-client ] && [ ! -e /lib/systemd/system/cliser-server.service ] && [ ! -e /lib/udev/rules.d/60-cliser-w1.rules ]"
check "... the data, the configs, the password and the user kept" \
    bash -c "[ -s /var/lib/cliser-server/cliser.db ] && [ -d /var/lib/cliser ] && cmp -s '$tmp/server.toml.edited' /etc/cliser/server.toml && [ -e /etc/cliser/password ] && getent passwd cliser >/dev/null"
dpkg -P cliser-server </dev/null >>"$tmp/upgrade.log" 2>&1 || fail "dpkg -P cliser-server failed"
check "dpkg -P cliser-server: its data and config gone; the user and password stay for the removed client" \
    bash -c "[ ! -e /var/lib/cliser-server ] && [ ! -e /etc/cliser/server.toml ] && [ ! -e /etc/cliser/server.example.toml ] && [ -e /etc/cliser/password ] && getent passwd cliser >/dev/null && [ -d /var/lib/cliser ]"
dpkg -P cliser-pi-client </dev/null >>"$tmp/upgrade.log" 2>&1 || fail "dpkg -P cliser-pi-client failed"
check "dpkg -P cliser-pi-client: /var/lib/cliser, /etc/cliser, the user and the group gone" \
    bash -c "[ ! -e /var/lib/cliser ] && [ ! -e /etc/cliser ] && ! getent passwd cliser >/dev/null && ! getent group cliser >/dev/null"
check "... and no unit symlinks left in /etc/systemd/system" test -z "$(find /etc/systemd/system -name 'cliser*' 2>/dev/null)"

# ---- deploy.sh --deb over ssh -------------------------------------------------------------------
mkdir -p "$tmp/ssh" "$tmp/stubs" "$tmp/state"
start_test_sshd "$tmp/ssh" || fail "the test sshd did not start"
ok "sshd listening on 127.0.0.1:$sshd_port"
: >"$tmp/calls.log"
# systemd is not running here: the service commands deploy.sh sends are recorded instead.
stub() {
    printf '#!/usr/bin/env bash\nset -eu\nstate=%q\necho "%s $*" >>%q\n%s\n' "$tmp/state" "$1" "$tmp/calls.log" "$2" >"$tmp/stubs/$1"
    chmod 0755 "$tmp/stubs/$1"
}
# shellcheck disable=SC2016 # expanded when the stand-in runs
stub systemctl 'args=(); for a in "$@"; do case $a in -*) ;; *) args+=("$a") ;; esac; done
case ${args[0]:-} in
    is-enabled) [ -e "/etc/systemd/system/multi-user.target.wants/${args[1]}" ] ;;
    is-active) [ -e "$state/active.${args[1]}" ] ;;
    start | restart) touch "$state/active.${args[1]}" ;;
    disable) rm -f "/etc/systemd/system/multi-user.target.wants/${args[1]}" ;;
    enable | daemon-reload) ;;
    *) echo "systemctl stand-in: unexpected: $*" >&2; exit 1 ;;
esac'
stub journalctl 'echo "(stand-in journal for: $*)"'
run_deploy() { # run_deploy ARGS...: sets $rc; output in $tmp/deploy.out
    rc=0
    SSH="ssh -F /dev/null" "$ws/deploy/deploy.sh" "${ssh_opts[@]}" --remote-path "$tmp/stubs" --follow 0 "$@" root@127.0.0.1 \
        </dev/null >"$tmp/deploy.out" 2>&1 || rc=$?
    if [ -n "${CLISER_TEST_VERBOSE:-}" ]; then sed 's/^/    | /' "$tmp/deploy.out"; fi
}
client_v1=$(deb v1 cliser-pi-client "$v1" amd64)
run_deploy --deb "$(deb v1 cliser-pi-client "$v1" arm64)"
check "deploy.sh --deb with an arm64 package for this amd64 host: refused, saying why" \
    bash -c "[ $rc -eq 1 ] && grep -q 'is for arm64' '$tmp/deploy.out' && ! dpkg-query -W cliser-pi-client >/dev/null 2>&1"
CLISER_PASSWORD=$password run_deploy --dry-run --deb "$client_v1" --id deb-pi --server-addr 127.0.0.1:1111
check "deploy.sh --deb --dry-run: says it would install the package, installs nothing" \
    bash -c "[ $rc -eq 0 ] && grep -q 'cliser-pi-client $v1 would be installed' '$tmp/deploy.out' && ! dpkg-query -W cliser-pi-client >/dev/null 2>&1 && [ ! -e /etc/cliser ]"
# This "Pi" had a deploy without --deb before: binary, unit (enabled) and rule where deploy.sh puts them.
printf '#!/bin/sh\necho an old deploy\n' >/usr/local/bin/cliser-pi-client
chmod 0755 /usr/local/bin/cliser-pi-client
cp "$ws/deploy/cliser-pi-client.service" /etc/systemd/system/cliser-pi-client.service
mkdir -p /etc/systemd/system/multi-user.target.wants /etc/udev/rules.d
ln -s /etc/systemd/system/cliser-pi-client.service /etc/systemd/system/multi-user.target.wants/cliser-pi-client.service
cp "$ws/deploy/60-cliser-w1.rules" /etc/udev/rules.d/60-cliser-w1.rules
t0=$SECONDS
CLISER_PASSWORD=$password run_deploy --deb "$client_v1" --id deb-pi --server-addr 127.0.0.1:1111
check "deploy.sh --deb installs the package with apt-get ($(elapsed "$t0"), exit $rc)" \
    bash -c "[ $rc -eq 0 ] && grep -q 'cliser-pi-client $v1 installed (apt-get)' '$tmp/deploy.out' && dpkg-query -W -f='\${Status}' cliser-pi-client | grep -q 'install ok installed'"
check "... then provisions the config (--id, --server-addr) and the password, 0400 cliser:cliser" \
    bash -c "grep -qx 'id = \"deb-pi\"' /etc/cliser/pi-client.toml && grep -qx 'server = \"127.0.0.1:1111\"' /etc/cliser/pi-client.toml \
        && [ \"\$(stat -c '%a %U:%G' /etc/cliser/password)\" = '400 cliser:cliser' ] && cmp -s '$tmp/password.in' /etc/cliser/password"
check "... takes over from the earlier deploy: its binary, unit and rule removed, the package's unit enabled" \
    bash -c "[ ! -e /usr/local/bin/cliser-pi-client ] && [ ! -e /etc/systemd/system/cliser-pi-client.service ] && [ ! -e /etc/udev/rules.d/60-cliser-w1.rules ] \
        && [ \"\$(readlink /etc/systemd/system/multi-user.target.wants/cliser-pi-client.service)\" = /lib/systemd/system/cliser-pi-client.service ] \
        && [ \$(grep -c \"removed (the package's replaces it)\" '$tmp/deploy.out') = 3 ]"
check "... and restarts the service" grep -q '^systemctl restart cliser-pi-client.service' "$tmp/calls.log"
check "... the password shows nowhere" bash -c "! grep -qF '$password' '$tmp/deploy.out' '$tmp/calls.log' '$tmp/ssh/sshd.log'"
: >"$tmp/calls.log"
run_deploy --deb "$client_v1"
check "deploy.sh --deb again, the same version: nothing changed, no restart" \
    bash -c "[ $rc -eq 0 ] && grep -q 'is installed: unchanged' '$tmp/deploy.out' && grep -q 'nothing changed' '$tmp/deploy.out' && ! grep -q '^systemctl restart' '$tmp/calls.log'"
run_deploy --deb "$(deb v2 cliser-pi-client "$v2" amd64)"
check "deploy.sh --deb with $v2: upgraded, the config and password kept, restarted" \
    bash -c "[ $rc -eq 0 ] && grep -q 'cliser-pi-client $v1 -> $v2' '$tmp/deploy.out' && grep -qx 'id = \"deb-pi\"' /etc/cliser/pi-client.toml \
        && cmp -s '$tmp/password.in' /etc/cliser/password && grep -q '^systemctl restart cliser-pi-client.service' '$tmp/calls.log'"
purge_all
check "purged again: nothing of cliser left on this machine" \
    bash -c "! getent passwd cliser >/dev/null && [ ! -e /etc/cliser ] && [ ! -e /var/lib/cliser ] && [ -z \"\$(find /etc/systemd/system -name 'cliser*')\" ]"

echo "$passed passed, 0 failed"
