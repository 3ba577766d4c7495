# shellcheck shell=bash
# Sourced by deploy/tests/deploy-test.sh and deb-test.sh: a real sshd on a free loopback port with a throwaway host key
# and client key, root login by key only.
#
#   start_test_sshd DIR   starts it (DIR: a private dir for its keys, config and log); sets
#                         $sshd_pid, $sshd_port and $ssh_opts (the ssh options that log in with it)
#   stop_test_sshd        stops it

sshd_pid=""
sshd_port=""
# shellcheck disable=SC2034 # for the sourcing test
ssh_opts=()

start_test_sshd() {
    local dir=$1 sshd_bin _
    sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
    mkdir -p /run/sshd
    chmod 0755 /run/sshd
    ssh-keygen -q -t ed25519 -N '' -C cliser-test-host -f "$dir/host_key"
    ssh-keygen -q -t ed25519 -N '' -C cliser-test-client -f "$dir/client_key"
    cp "$dir/client_key.pub" "$dir/authorized_keys"
    for _ in 1 2 3 4 5; do
        sshd_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        cat >"$dir/sshd_config" <<EOF
ListenAddress 127.0.0.1:$sshd_port
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowUsers root
PrintMotd no
LogLevel VERBOSE
EOF
        "$sshd_bin" -D -e -f "$dir/sshd_config" 2>"$dir/sshd.log" &
        sshd_pid=$!
        local deadline=$((SECONDS + 10))
        until grep -q "Server listening on 127.0.0.1 port $sshd_port" "$dir/sshd.log" 2>/dev/null || ! kill -0 "$sshd_pid" 2>/dev/null; do
            if [ "$SECONDS" -ge "$deadline" ]; then echo "sshd did not start within 10 s" >&2; return 1; fi
            sleep 0.1
        done
        if kill -0 "$sshd_pid" 2>/dev/null; then break; fi
        wait "$sshd_pid" 2>/dev/null || true
        sshd_pid=""
        grep -q "Address already in use" "$dir/sshd.log" || { cat "$dir/sshd.log" >&2; return 1; }
    done
    [ -n "$sshd_pid" ] || { echo "sshd could not bind a free port in 5 attempts" >&2; return 1; }
    # shellcheck disable=SC2034 # for the sourcing test
    ssh_opts=(-p "$sshd_port" -i "$dir/client_key" -o StrictHostKeyChecking=no -o "UserKnownHostsFile=$dir/known_hosts"
        -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=10)
}

stop_test_sshd() {
    if [ -n "$sshd_pid" ]; then
        kill "$sshd_pid" 2>/dev/null || true
        wait "$sshd_pid" 2>/dev/null || true
        sshd_pid=""
    fi
}
