#!/usr/bin/env bash
# shellcheck disable=SC2016  # single-quoted bodies of the stand-ins expand when the stand-ins run
# deploy/deploy.sh against a real sshd: started here on a free loopback port with a throwaway host
# key and client key; the "Pi" is a temp dir (--root) and systemctl, journalctl, useradd, usermod,
# getent, chown and udevadm are recording stand-ins put first on the remote PATH (--remote-path). Checks where
# everything lands and with which modes, that the service is enabled and restarted, that the password
# never shows, that --dry-run changes nothing, that a second run changes nothing and a third with a
# new binary changes only the binary; that a Pi's own token (--token-file, from a file or stdin)
# lands 0400 as its password-file and shows nowhere, not even on an ssh command line; that the fleet
# CA (--tls-ca) lands 0400 and the config points to it; that the client's udev rule lands 0644 and
# is applied with udevadm (a stand-in too) only when it changed. Also lints the units with
# systemd-analyze (and the rule with `udevadm verify` where there is one: systemd 254 and later) and
# the example configs against the flags. Needs root (sshd); installs what it lacks.
#
#   bash deploy/tests/deploy-test.sh        (about 10-20 s; prints "N passed, 0 failed")
#   CLISER_TEST_VERBOSE=1 bash deploy/tests/deploy-test.sh     (also shows each deploy.sh run)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/tests/harness.sh
. "$here/harness.sh"
# shellcheck source=deploy/tests/test-sshd.sh
. "$here/test-sshd.sh"
ws=$(cd "$here/../.." && pwd)
deploy=$ws/deploy/deploy.sh

fail_logs=(sshd.log)

cleanup() {
    stop_test_sshd
    if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

# What `fail` shows before the sshd log's tail.
on_fail() {
    if [ -n "${last_out:-}" ] && [ -f "$last_out" ]; then
        echo "---- output of the last deploy.sh run ($last_out):"
        cat "$last_out"
    fi
    if [ -n "$tmp" ] && [ -f "$tmp/calls.log" ]; then
        echo "---- stand-in calls:"
        cat "$tmp/calls.log"
    fi
}

[ "$(id -u)" -eq 0 ] || { echo "deploy-test.sh needs root (to run sshd and log in as root)"; echo "0 passed, 1 failed"; exit 1; }

# ---- what it needs ------------------------------------------------------------------------------
missing=()
for pair in sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client python3:python3 \
    systemd-analyze:systemd timeout:coreutils openssl:openssl; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

tmp=$(mktemp -d /tmp/cliser-deploy-test.XXXXXX)
chmod 0755 "$tmp"
root=$tmp/pi # the Pi's /
stubs=$tmp/stubs
state=$tmp/state
mkdir -p "$root" "$stubs" "$state"
: >"$tmp/calls.log"

# ---- unit files and example configs -------------------------------------------------------------
for u in cliser-pi-client cliser-server; do
    sed "s#^ExecStart=/usr/local/bin/$u #ExecStart=/bin/true #" "$ws/deploy/$u.service" >"$tmp/$u.service"
done
verify_out=$( (cd "$tmp" && SYSTEMD_LOG_TARGET=console systemd-analyze verify --man=no ./cliser-pi-client.service ./cliser-server.service) 2>&1) ||
    fail "systemd-analyze verify failed: $verify_out"
check "systemd-analyze verify: both units clean" test -z "$verify_out"

unit_has() { grep -qx "$2" "$ws/deploy/$1.service"; }
unit_lacks() { ! grep -q "^$2" "$ws/deploy/$1.service"; }
for u in cliser-pi-client cliser-server; do
    check "$u.service: Restart=on-failure, RestartPreventExitStatus=2, StateDirectory, cliser user, --config" \
        bash -c "grep -qx 'Restart=on-failure' '$ws/deploy/$u.service' && grep -qx 'RestartPreventExitStatus=2' '$ws/deploy/$u.service' \
            && grep -q '^StateDirectory=' '$ws/deploy/$u.service' && grep -qx 'User=cliser' '$ws/deploy/$u.service' \
            && grep -q '^ExecStart=/usr/local/bin/$u --config /etc/cliser/' '$ws/deploy/$u.service'"
done
check "client unit keeps /dev/gpiomem* and /sys/bus/w1 reachable (no PrivateDevices/DevicePolicy/DeviceAllow/ProtectClock/InaccessiblePaths)" \
    bash -c "! grep -Eq '^(PrivateDevices=yes|DevicePolicy|DeviceAllow|ProtectClock=yes|InaccessiblePaths|PrivateUsers=yes)' '$ws/deploy/cliser-pi-client.service'"
check "client unit: StateDirectory=cliser matches state-dir /var/lib/cliser" unit_has cliser-pi-client "StateDirectory=cliser"
check "client unit is sandboxed (ProtectSystem=strict, NoNewPrivileges, no capabilities)" \
    bash -c "grep -qx 'ProtectSystem=strict' '$ws/deploy/cliser-pi-client.service' && grep -qx 'NoNewPrivileges=yes' '$ws/deploy/cliser-pi-client.service' && grep -qx 'CapabilityBoundingSet=' '$ws/deploy/cliser-pi-client.service'"
check "client unit runs no Restart=always" unit_lacks cliser-pi-client "Restart=always"
check "client unit: the w1 bus masters writable by their real /sys/devices paths, ProtectKernelTunables kept" \
    bash -c "grep -q '^ReadWritePaths=.*-/sys/devices/w1_bus_master1 ' '$ws/deploy/cliser-pi-client.service' && grep -qx 'ProtectKernelTunables=yes' '$ws/deploy/cliser-pi-client.service'"
if udevadm verify --help >/dev/null 2>&1; then
    check "udevadm verify: 60-cliser-w1.rules clean" udevadm verify "$ws/deploy/60-cliser-w1.rules"
else
    echo "# no udevadm verify here (systemd < 254): the rule is checked by deploy/tests/w1-rule-test.sh"
fi

toml_keys() { # toml_keys FILE ALLOWED...: FILE parses and uses only those keys
    python3 - "$@" <<'EOF'
import sys, tomllib
path, allowed = sys.argv[1], set(sys.argv[2:])
with open(path, "rb") as f:
    data = tomllib.load(f)
bad = set(data) - allowed
if bad:
    sys.exit(f"{path}: unknown keys {sorted(bad)}")
EOF
}
client_keys=(server tls-ca tls-pin id password-file sensor interval server-timeout state-dir durability spill-after health-every shutdown-command)
server_keys=(listen listen-tls tls-cert tls-key console http keepalive auth-timeout dead-after max-clients max-sensors-per-client store data-dir retain-raw store-memory password-file admin-password-file ready-file
    clients-file auth-max-failures auth-window auth-block auth-exempt)
check "pi-client.example.toml uses only the client's flag names" toml_keys "$ws/deploy/pi-client.example.toml" "${client_keys[@]}"
check "server.example.toml uses only the server's flag names" toml_keys "$ws/deploy/server.example.toml" "${server_keys[@]}"
check "pi-client.example.toml has the documented values" bash -c "grep -qx 'server = \"cliser-server.local:1111\"' '$ws/deploy/pi-client.example.toml' \
    && grep -qx 'password-file = \"/etc/cliser/password\"' '$ws/deploy/pi-client.example.toml' && grep -qx 'state-dir = \"/var/lib/cliser\"' '$ws/deploy/pi-client.example.toml'"

# ---- stand-ins for the Pi's system tools --------------------------------------------------------
# Each records its command line in calls.log; systemctl and the user tools keep state in $state so
# that the second run sees what the first one did, as on a real Pi.
stub() {
    local name=$1 body=$2
    printf '#!/usr/bin/env bash\nset -eu\nstate=%q\necho "%s $*" >>%q\n%s\n' "$state" "$name" "$tmp/calls.log" "$body" >"$stubs/$name"
    chmod 0755 "$stubs/$name"
}
stub systemctl '
args=(); for a in "$@"; do case $a in -*) ;; *) args+=("$a") ;; esac; done
verb=${args[0]:-}; unit=${args[1]:-}
case $verb in
    is-enabled) [ -e "$state/enabled.$unit" ] ;;
    enable) touch "$state/enabled.$unit" ;;
    is-active) [ -e "$state/active.$unit" ] ;;
    start | restart) touch "$state/active.$unit" ;;
    daemon-reload) ;;
    *) echo "systemctl stand-in: unexpected: $*" >&2; exit 1 ;;
esac'
stub journalctl 'echo "Nov 22 10:00:00 pi cliser[1]: (stand-in journal for: $*)"'
stub useradd 'user=${!#}; echo "$user" >>"$state/passwd"
prev=""; for a in "$@"; do if [ "$prev" = --groups ] || [ "$prev" = -G ]; then echo "$a:$user" >>"$state/members"; fi; prev=$a; done'
stub usermod 'user=${!#}; prev=""; for a in "$@"; do if [ "$prev" = -G ]; then echo "$a:$user" >>"$state/members"; fi; prev=$a; done'
stub chown ':'
stub udevadm ':'
stub getent '
case "$1 ${2:-}" in
    "passwd cliser") grep -qx cliser "$state/passwd" 2>/dev/null && echo "cliser:x:990:990:cliser service:/var/lib/cliser:/usr/sbin/nologin" ;;
    "group gpio") echo "gpio:x:997:$(sed -n "s/^gpio://p" "$state/members" 2>/dev/null | paste -sd, -)" ;;
    *) exec /usr/bin/getent "$@" ;;
esac'

# ---- keys and sshd on a free loopback port ------------------------------------------------------
start_test_sshd "$tmp" || fail "sshd did not start"
port=$sshd_port
ok "sshd listening on 127.0.0.1:$port with a throwaway host key"

check "ssh root@127.0.0.1 works with the throwaway key" \
    ssh -F /dev/null "${ssh_opts[@]}" root@127.0.0.1 true

# ---- runs of deploy.sh --------------------------------------------------------------------------
run_n=0
last_out=""
# run_deploy ARGS...: deploy.sh with the test's ssh, root and stand-ins; no terminal. Sets $rc, $last_out.
# $run_root, $run_ssh and $run_stdin override the Pi's root, the ssh command and stdin (/dev/null).
run_deploy() {
    run_n=$((run_n + 1))
    last_out=$tmp/out.$run_n
    echo "--- run $run_n: deploy.sh $*" >>"$tmp/calls.log"
    calls_from=$(wc -l <"$tmp/calls.log")
    rc=0
    SSH="${run_ssh:-ssh -F /dev/null}" "$deploy" "${ssh_opts[@]}" --root "${run_root:-$root}" --remote-path "$stubs" \
        --follow 1 "$@" root@127.0.0.1 <"${run_stdin:-/dev/null}" >"$last_out" 2>&1 || rc=$?
    if [ -n "${CLISER_TEST_VERBOSE:-}" ]; then sed 's/^/    | /' "$last_out"; fi
}
new_calls() { tail -n "+$((calls_from + 1))" "$tmp/calls.log"; }
called() { new_calls | grep -Eq "$1"; }
not_called() { ! called "$1"; }
# all_called PATTERN...: each was called since the last run started; a leading ! means: was not.
all_called() {
    local p
    for p in "$@"; do
        if [[ $p == '!'* ]]; then not_called "${p#!}" || return 1; else called "$p" || return 1; fi
    done
}
mutating='^(useradd|usermod|chown|udevadm) |^systemctl (enable|restart|start|daemon-reload)( |$)'
# Every file with its mode, owner, size and mtime; directories without mtime (a rename in one bumps it).
snapshot() { (cd "${run_root:-$root}" && find . \( -type d -printf '%p %M %U:%G\n' \) -o -printf '%p %M %U:%G %s %T@\n' | sort); }
leftovers() { find /tmp -maxdepth 1 -name 'cliser-deploy.*' | wc -l; }
mode_of() { stat -c %a "$1"; }

check "--help prints the usage and the test options" bash -c "'$deploy' --help | grep -q '^Usage: deploy/deploy.sh' && '$deploy' --help | grep -q -- '--remote-path' && '$deploy' --help | grep -q -- '--dry-run'"
rc=0
"$deploy" --frobnicate x@y >/dev/null 2>&1 || rc=$?
check "an unknown option is a usage error (exit 2)" test "$rc" -eq 2
rc=0
"$deploy" >/dev/null 2>&1 || rc=$?
check "no USER@HOST is a usage error (exit 2)" test "$rc" -eq 2
rc=0
build_plan=$(CLISER_BUILDER=cargo "$deploy" --build-only --dry-run 2>&1) || rc=$?
check "--build-only --dry-run names the plain cargo build and builds nothing" \
    bash -c "[ $rc -eq 0 ] && grep -q 'would run.*cargo build --release --target aarch64-unknown-linux-gnu -p cliser-pi-client' <<<'$build_plan'"

password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
admin_password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
printf '#!/bin/sh\necho "stand-in cliser-pi-client, build 1"\n' >"$tmp/client-1"
printf '#!/bin/sh\necho "stand-in cliser-pi-client, build 2"\n' >"$tmp/client-2"
printf '#!/bin/sh\necho "stand-in cliser-server"\n' >"$tmp/server-1"
no_secret() { ! grep -rqF -e "$password" -e "$admin_password" "$@"; }

# A Pi without a password yet, and nobody to ask: refused before anything is installed.
leftovers_before=$(leftovers)
run_deploy --binary "$tmp/client-1"
check "without CLISER_PASSWORD or a terminal, a first deploy fails, saying so" \
    bash -c "[ $rc -eq 1 ] && grep -q CLISER_PASSWORD '$last_out'"
check "... and installs nothing" test -z "$(find "$root" -mindepth 1)"

# --dry-run on the empty Pi.
CLISER_PASSWORD=$password run_deploy --dry-run --binary "$tmp/client-1" --id test-pi --server-addr 127.0.0.1:1111
check "--dry-run succeeds and says what it would do" bash -c "[ $rc -eq 0 ] && grep -q 'would be installed' '$last_out' && grep -q 'would be enabled' '$last_out' && grep -q 'system user cliser would be created' '$last_out'"
check "--dry-run changes nothing on the Pi" test -z "$(find "$root" -mindepth 1)"
check "--dry-run calls nothing that changes the system" not_called "$mutating"
check "--dry-run leaves no temp dirs behind" test "$(leftovers)" -eq "$leftovers_before"

# The first real deploy.
CLISER_PASSWORD=$password run_deploy --binary "$tmp/client-1" --id test-pi --server-addr 127.0.0.1:1111
check "first deploy succeeds" test "$rc" -eq 0
check "binary: /usr/local/bin/cliser-pi-client, 0755, the given bytes" \
    bash -c "cmp -s '$tmp/client-1' '$root/usr/local/bin/cliser-pi-client' && [ \$(stat -c %a '$root/usr/local/bin/cliser-pi-client') = 755 ]"
check "unit: /etc/systemd/system/cliser-pi-client.service, 0644, deploy/'s" \
    bash -c "cmp -s '$ws/deploy/cliser-pi-client.service' '$root/etc/systemd/system/cliser-pi-client.service' && [ \$(stat -c %a '$root/etc/systemd/system/cliser-pi-client.service') = 644 ]"
rulef=$root/etc/udev/rules.d/60-cliser-w1.rules
check "udev rule: /etc/udev/rules.d/60-cliser-w1.rules, 0644, deploy/'s" \
    bash -c "cmp -s '$ws/deploy/60-cliser-w1.rules' '$rulef' && [ \$(stat -c %a '$rulef') = 644 ]"
udev_applied() { new_calls | grep -A1 -x 'udevadm control --reload' | grep -Eq '^udevadm trigger .*--subsystem-match=w1 .*--action=add'; }
check "... applied: udevadm control --reload, then trigger --subsystem-match=w1 --action=add" udev_applied
cfg=$root/etc/cliser/pi-client.toml
check "config: /etc/cliser/pi-client.toml, 0644, valid, only flag names" \
    bash -c "[ \$(stat -c %a '$cfg') = 644 ] && python3 -c 'import tomllib,sys; tomllib.load(open(sys.argv[1],\"rb\"))' '$cfg'" 
check "config has the --id and --server-addr given, and the example's other settings" \
    bash -c "grep -qx 'id = \"test-pi\"' '$cfg' && grep -qx 'server = \"127.0.0.1:1111\"' '$cfg' && grep -qx 'password-file = \"/etc/cliser/password\"' '$cfg' && grep -qx 'state-dir = \"/var/lib/cliser\"' '$cfg' && [ \$(grep -c '^id *=' '$cfg') = 1 ]"
pwf=$root/etc/cliser/password
check "password: /etc/cliser/password, 0400, exactly the password" \
    bash -c "[ \$(stat -c %a '$pwf') = 400 ] && [ \"\$(cat '$pwf')\" = '$password' ]"
check "password file handed to cliser:cliser (chown before it is moved into place)" called "^chown cliser:cliser $root/etc/cliser/\\.password\\."
check "/etc/cliser is 0755 (the cliser user reaches its password)" test "$(mode_of "$root/etc/cliser")" = 755
check "system user cliser created, in group gpio, no login shell" \
    called '^useradd .*--system.*--shell /usr/sbin/nologin.*--groups gpio cliser$'
check "systemd: daemon-reload, enable, restart" \
    all_called '^systemctl daemon-reload' '^systemctl enable .*cliser-pi-client.service' '^systemctl restart cliser-pi-client.service'
check "the journal is shown after the restart" called '^journalctl -u cliser-pi-client.service'
check "the password appears nowhere: output, calls, sshd log" no_secret "$last_out" "$tmp/calls.log" "$tmp/sshd.log"
check "no temp dirs left behind (here or on the Pi)" test "$(leftovers)" -eq "$leftovers_before"
before=$(snapshot)

# The same again: nothing changes.
CLISER_PASSWORD=$password run_deploy --binary "$tmp/client-1" --id test-pi --server-addr 127.0.0.1:1111
check "second identical deploy succeeds and says nothing changed" bash -c "[ $rc -eq 0 ] && grep -q 'nothing changed' '$last_out'"
check "... and no file changed (contents, modes, mtimes)" test "$before" = "$(snapshot)"
check "... and nothing was created, chowned, reloaded, enabled or restarted" not_called "$mutating"

# Without CLISER_PASSWORD the Pi's password is kept.
CLISER_PASSWORD=$password run_deploy --dry-run --binary "$tmp/client-2"
check "--dry-run with a new binary: only the binary would change" \
    bash -c "[ $rc -eq 0 ] && grep -q 'cliser-pi-client: would be replaced' '$last_out' && grep -q '1 change(s) would be made' '$last_out'"
check "... and it changed nothing" test "$before" = "$(snapshot)"
run_deploy --binary "$tmp/client-2"
check "third deploy with a new binary and no CLISER_PASSWORD succeeds, keeping the password" \
    bash -c "[ $rc -eq 0 ] && grep -q 'keeping the one already' '$last_out'"
changed_lines=$(diff <(echo "$before") <(snapshot) | awk '/^>/ {print $2}' | sort -u || true)
check "... only the binary changed (changed: ${changed_lines//$'\n'/ })" test "$changed_lines" = "./usr/local/bin/cliser-pi-client"
check "... the service was restarted, nothing else done" \
    all_called '^systemctl restart cliser-pi-client.service' '!^(useradd|usermod|chown) |^systemctl (daemon-reload|enable) '

# A changed password replaces the file (atomically, still 0400) and restarts.
new_password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
CLISER_PASSWORD=$new_password run_deploy --binary "$tmp/client-2"
check "a new CLISER_PASSWORD replaces the password file (0400) and restarts" \
    bash -c "[ $rc -eq 0 ] && [ \"\$(cat '$pwf')\" = '$new_password' ] && [ \$(stat -c %a '$pwf') = 400 ] && grep -q 'password.*replaced' '$last_out'"
check "... and is not printed" bash -c "! grep -qF '$new_password' '$last_out' '$tmp/calls.log' '$tmp/sshd.log'"

# Without --binary, a dry run says what it would build for the host's architecture, and builds nothing.
CLISER_BUILDER=cargo CLISER_PASSWORD=$new_password run_deploy --dry-run --server
check "--dry-run --server without --binary names the build it would run, builds nothing" \
    bash -c "[ $rc -eq 0 ] && grep -Eq 'would run .*cargo build --release (--target aarch64-unknown-linux-gnu )?-p cliser-server' '$last_out' && grep -q 'would be replaced by the freshly built binary\|would be installed' '$last_out'"
check "... and changed nothing" test "$(find "$root" -name cliser-server)" = ""

# On a terminal, with no CLISER_PASSWORD and no password on the Pi yet, deploy.sh asks twice,
# without echo. A pseudo-terminal plays the user: it types only once each prompt is there.
typed_root=$tmp/pi-typed
mkdir -p "$typed_root"
typed=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
rm -f "$state/passwd" "$state/members" "$state"/enabled.* "$state"/active.*
last_out=$tmp/out.typed
rc=0
TYPED=$typed SSH="ssh -F /dev/null" python3 - "$last_out" "$deploy" "${ssh_opts[@]}" --root "$typed_root" \
    --remote-path "$stubs" --follow 1 --binary "$tmp/client-1" root@127.0.0.1 <<'PY' || rc=$?
import os, pty, select, sys, time
out_path, argv = sys.argv[1], sys.argv[2:]
typed = os.environ.pop("TYPED").encode()
os.environ.pop("CLISER_PASSWORD", None)
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out = b""
def read_more(deadline):
    global out
    r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
    if not r:
        return False
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        chunk = b""
    out += chunk
    return bool(chunk)
def wait_for(needle):
    deadline = time.time() + 30
    while needle not in out:
        if not read_more(deadline):
            open(out_path, "wb").write(out)
            os.kill(pid, 9)
            sys.exit(f"no {needle!r} within 30 s")
wait_for(b"Password the clients")
os.write(fd, typed + b"\n")
wait_for(b"The same again")
os.write(fd, typed + b"\n")
deadline = time.time() + 60
while read_more(deadline):
    pass
_, status = os.waitpid(pid, 0)
open(out_path, "wb").write(out)
sys.exit(os.waitstatus_to_exitcode(status))
PY
if [ -n "${CLISER_TEST_VERBOSE:-}" ]; then sed 's/^/    | /' "$last_out"; fi
check "on a terminal without CLISER_PASSWORD it asks twice and deploys (exit $rc)" test "$rc" -eq 0
check "... the typed password lands in /etc/cliser/password (0400)" \
    bash -c "[ \"\$(cat '$typed_root/etc/cliser/password')\" = '$typed' ] && [ \$(stat -c %a '$typed_root/etc/cliser/password') = 400 ]"
check "... and is never echoed nor logged" bash -c "! grep -qF '$typed' '$last_out' '$tmp/calls.log' '$tmp/sshd.log'"

# A Pi with its own token (the server has --clients-file): no fleet password at all. The token
# comes from a file, then a new one on stdin; ssh runs through a recorder of its command lines.
token_root=$tmp/pi-token
mkdir -p "$token_root"
token=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
(umask 077 && printf '%s\n' "$token" >"$tmp/pi.token")
printf '#!/bin/sh\nprintf "%%s\\n" "$*" >>%q\nexec ssh "$@"\n' "$tmp/ssh-argv.log" >"$tmp/ssh-rec"
chmod 0755 "$tmp/ssh-rec"
no_token() { ! grep -rqF -e "$1" "$last_out" "$tmp/calls.log" "$tmp/sshd.log" "$tmp/ssh-argv.log"; }
run_root=$token_root run_ssh="$tmp/ssh-rec -F /dev/null" run_deploy --binary "$tmp/client-1" --id pi-tok --token-file "$tmp/pi.token"
check "a first deploy with --token-file and no CLISER_PASSWORD succeeds (exit $rc)" test "$rc" -eq 0
tokf=$token_root/etc/cliser/token
check "token: /etc/cliser/token, 0400, exactly the token" \
    bash -c "[ \$(stat -c %a '$tokf') = 400 ] && [ \"\$(cat '$tokf')\" = '$token' ]"
check "token file handed to cliser:cliser (chown before it is moved into place)" called "^chown cliser:cliser $token_root/etc/cliser/\\.token\\."
check "the config's password-file is the token, once" \
    bash -c "grep -qx 'password-file = \"/etc/cliser/token\"' '$token_root/etc/cliser/pi-client.toml' && [ \$(grep -c '^password-file' '$token_root/etc/cliser/pi-client.toml') = 1 ]"
check "no fleet password was needed nor installed" \
    bash -c "[ ! -e '$token_root/etc/cliser/password' ] && grep -q 'none needed' '$last_out'"
check "ssh command lines were recorded" test -s "$tmp/ssh-argv.log"
check "the token appears nowhere: output, stand-in calls, sshd log, ssh command lines" no_token "$token"
before=$(run_root=$token_root snapshot)
run_root=$token_root run_deploy --binary "$tmp/client-1" --id pi-tok --token-file "$tmp/pi.token"
check "the same token again: nothing changed" bash -c "[ $rc -eq 0 ] && grep -q 'nothing changed' '$last_out'"
check "... and no file changed (contents, modes, mtimes)" test "$before" = "$(run_root=$token_root snapshot)"
run_root=$token_root run_deploy --binary "$tmp/client-1"
check "without --token-file the token on the Pi is kept, and no password asked for" \
    bash -c "[ $rc -eq 0 ] && grep -q 'keeping the one already' '$last_out' && [ \"\$(cat '$tokf')\" = '$token' ]"
new_token=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
(umask 077 && printf '%s\r\n' "$new_token" >"$tmp/pi2.token")
run_root=$token_root run_ssh="$tmp/ssh-rec -F /dev/null" run_stdin=$tmp/pi2.token run_deploy --binary "$tmp/client-1" --token-file -
check "--token-file - takes a new token from stdin (CRLF ok), 0400, and restarts" \
    bash -c "[ $rc -eq 0 ] && [ \"\$(cat '$tokf')\" = '$new_token' ] && [ \$(stat -c %a '$tokf') = 400 ] && grep -q 'token.*replaced' '$last_out'" 
check "... restarting the client" called '^systemctl restart cliser-pi-client.service'
check "... and it shows nowhere either" no_token "$new_token"
rc=0
"$deploy" --server --token-file "$tmp/pi.token" root@127.0.0.1 >/dev/null 2>&1 || rc=$?
check "--token-file with --server is a usage error (exit 2)" test "$rc" -eq 2
rc=0
"$deploy" --token-file "$tmp/no-such.token" root@127.0.0.1 >/dev/null 2>&1 || rc=$?
check "an unreadable --token-file is a usage error (exit 2)" test "$rc" -eq 2

# TLS: the fleet CA lands on the Pi 0400 for the service user and the config points to it; the
# server address must be tls://. A CA made by openssl stands in for gen-tls's ca.pem.
tls_root=$tmp/pi-tls
mkdir -p "$tls_root"
make_ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1" \
    -keyout "$tmp/$1.key" -out "$tmp/$1.pem" >/dev/null 2>&1; }
make_ca ca-one && make_ca ca-two
cat "$tmp/ca-one.pem" "$tmp/ca-two.pem" >"$tmp/ca-both.pem"
cafile=$tls_root/etc/cliser/ca.pem
tls_cfg=$tls_root/etc/cliser/pi-client.toml
CLISER_PASSWORD=$password run_root=$tls_root run_deploy --binary "$tmp/client-1" --id pi-tls \
    --tls-ca "$tmp/ca-one.pem" --server-addr tls://cliser-server.local:1112
check "a deploy with --tls-ca and a tls:// server succeeds (exit $rc)" test "$rc" -eq 0
check "the CA: /etc/cliser/ca.pem, 0400, exactly the file" \
    bash -c "[ \$(stat -c %a '$cafile') = 400 ] && cmp -s '$tmp/ca-one.pem' '$cafile'"
check "... handed to cliser:cliser before it is moved into place" called "^chown cliser:cliser $tls_root/etc/cliser/\\.ca\\.pem\\."
check "the config: tls-ca is the installed CA, once, and the server is tls://" \
    bash -c "grep -qx 'tls-ca = \"/etc/cliser/ca.pem\"' '$tls_cfg' && [ \$(grep -c '^tls-ca' '$tls_cfg') = 1 ] && grep -qx 'server = \"tls://cliser-server.local:1112\"' '$tls_cfg'"
check "... and it is valid, with only the client's flag names" toml_keys "$tls_cfg" "${client_keys[@]}"
before=$(run_root=$tls_root snapshot)
CLISER_PASSWORD=$password run_root=$tls_root run_deploy --binary "$tmp/client-1" --tls-ca "$tmp/ca-one.pem"
check "the same CA again: nothing changed" bash -c "[ $rc -eq 0 ] && grep -q 'nothing changed' '$last_out'"
check "... and no file changed (contents, modes, mtimes)" test "$before" = "$(run_root=$tls_root snapshot)"
run_root=$tls_root run_deploy --binary "$tmp/client-1"
check "without --tls-ca the CA on the Pi is kept" bash -c "[ $rc -eq 0 ] && cmp -s '$tmp/ca-one.pem' '$cafile'"
run_root=$tls_root run_deploy --binary "$tmp/client-1" --tls-ca "$tmp/ca-both.pem"
check "a rotation (two CAs in one file) replaces it, 0400, and restarts the client" \
    bash -c "[ $rc -eq 0 ] && cmp -s '$tmp/ca-both.pem' '$cafile' && [ \$(stat -c %a '$cafile') = 400 ] && grep -q 'tls-ca.*replaced' '$last_out'"
check "... restarting the client" called '^systemctl restart cliser-pi-client.service'
rc=0
"$deploy" --tls-ca "$tmp/ca-one.pem" --server-addr 127.0.0.1:1111 root@127.0.0.1 >/dev/null 2>&1 || rc=$?
check "--tls-ca with a plain --server-addr is a usage error (exit 2)" test "$rc" -eq 2
rc=0
"$deploy" --tls-ca "$tmp/ca-one.key" root@127.0.0.1 >/dev/null 2>&1 || rc=$?
check "--tls-ca given a private key is a usage error (exit 2): the key stays on the server" test "$rc" -eq 2
rc=0
"$deploy" --server --tls-ca "$tmp/ca-one.pem" root@127.0.0.1 >/dev/null 2>&1 || rc=$?
check "--tls-ca with --server is a usage error (exit 2)" test "$rc" -eq 2
before=$(snapshot)
run_deploy --binary "$tmp/client-1" --tls-ca "$tmp/ca-one.pem"
check "--tls-ca on a Pi whose config names a plain server fails, saying why" \
    bash -c "[ $rc -ne 0 ] && grep -q 'every server must be tls://' '$last_out'"
check "... before anything changed (no CA, same config and binary)" test "$before" = "$(snapshot)"

# A Pi without udevadm (only where this machine has none either: the stand-ins come first on the
# PATH, they cannot hide a real one): the rule is installed and the deploy says when it applies.
if ! command -v udevadm >/dev/null 2>&1; then
    mkdir -p "$tmp/stubs-no-udevadm"
    cp -p "$stubs"/* "$tmp/stubs-no-udevadm/"
    rm "$tmp/stubs-no-udevadm/udevadm"
    mkdir -p "$tmp/pi-no-udev"
    CLISER_PASSWORD=$password run_root=$tmp/pi-no-udev run_deploy --binary "$tmp/client-1" --remote-path "$tmp/stubs-no-udevadm"
    check "without udevadm the rule is installed and the deploy says it applies from the next boot" \
        bash -c "[ $rc -eq 0 ] && cmp -s '$ws/deploy/60-cliser-w1.rules' '$tmp/pi-no-udev/etc/udev/rules.d/60-cliser-w1.rules' && grep -q 'no udevadm on .*: the rule applies from the next boot' '$last_out'"
else
    echo "# this machine has udevadm: the deploy without one is not tried"
fi

# The server, onto the same machine: same user and password file, its own unit and config.
CLISER_PASSWORD=$new_password CLISER_ADMIN_PASSWORD=$admin_password run_deploy --server --binary "$tmp/server-1"
check "--server deploy succeeds" test "$rc" -eq 0
check "server binary, unit and config in place" \
    bash -c "cmp -s '$tmp/server-1' '$root/usr/local/bin/cliser-server' && cmp -s '$ws/deploy/cliser-server.service' '$root/etc/systemd/system/cliser-server.service' && [ -f '$root/etc/cliser/server.toml' ]"
check "server.toml: valid, only the server's flag names" toml_keys "$root/etc/cliser/server.toml" "${server_keys[@]}"
check "server.toml: admin-password-file set (CLISER_ADMIN_PASSWORD was given)" \
    grep -qx 'admin-password-file = "/etc/cliser/admin-password"' "$root/etc/cliser/server.toml"
check "admin password: /etc/cliser/admin-password, 0400, exact" \
    bash -c "[ \$(stat -c %a '$root/etc/cliser/admin-password') = 400 ] && [ \"\$(cat '$root/etc/cliser/admin-password')\" = '$admin_password' ]"
check "server: enabled and restarted, the existing user reused" \
    all_called '^systemctl enable .*cliser-server.service' '^systemctl restart cliser-server.service' '!^useradd'
check "... and no udev rule for it" not_called '^udevadm '
check "no password appears in the server deploy's output" no_secret "$last_out" "$tmp/calls.log"

echo "$passed passed, 0 failed"
