#!/usr/bin/env bash
# The half of deploy/deploy.sh that runs on the Pi. deploy.sh feeds it on stdin for --probe, then
# uploads it with the files to install into a private temp dir on the Pi and runs it from there (as
# root: through sudo when the ssh user is not root). Not meant to be run by hand; see deploy.sh --help.
#
# Staged files next to this script: bin (optional: absent in a dry run without --binary), unit,
# example.toml, config.toml (optional: deploy.sh --config), password, admin-password, token and
# ca.pem (optional), w1.rules (the client's udev rule, deploy/60-cliser-w1.rules). With --deb:
# package.deb instead of bin, unit and w1.rules (the package installs those and makes the user), and
# example.toml is the package's.
#
# Idempotent: every step compares what is there with what should be there and acts only on a
# difference; the service is restarted only when something changed (or --restart).
set -euo pipefail

orig_args=("$@")
mode=install name="" root=/ path_prepend="" dry=0 follow=8 force_restart=0 id="" server_addr="" deb=0
while [ $# -gt 0 ]; do
    case $1 in
        --probe) mode=probe; shift ;;
        --name) name=$2; shift 2 ;;
        --root) root=$2; shift 2 ;;
        --path-prepend) path_prepend=$2; shift 2 ;;
        --dry-run) dry=1; shift ;;
        --deb) deb=1; shift ;;
        --follow) follow=$2; shift 2 ;;
        --restart) force_restart=1; shift ;;
        --id) id=$2; shift 2 ;;
        --server-addr) server_addr=$2; shift 2 ;;
        *) echo "remote-install.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

# Tests put recording stand-ins for systemctl, journalctl, useradd, ... first on the PATH.
if [ -n "$path_prepend" ]; then
    PATH="$path_prepend:$PATH"
    export PATH
fi
R=${root%/} # every installed path is "$R/...": "" for the real root
host=$(uname -n)

die() { echo "!! $*" >&2; exit 1; }

if [ "$mode" = probe ]; then
    # Read-only facts for deploy.sh, one key=value a line. Needs no root: /etc/cliser is 0755.
    echo "uid=$(id -u)"
    echo "arch=$(uname -m)"
    echo "host=$host"
    if [ -e "$R/etc/cliser/password" ]; then echo "password=present"; else echo "password=absent"; fi
    if [ -e "$R/etc/cliser/token" ]; then echo "token=present"; else echo "token=absent"; fi
    if command -v systemctl >/dev/null 2>&1; then echo "systemd=yes"; else echo "systemd=no"; fi
    if [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null 2>&1; then echo "root=yes"; else echo "root=no"; fi
    if command -v dpkg >/dev/null 2>&1; then echo "dpkg_arch=$(dpkg --print-architecture)"; fi
    if command -v apt-get >/dev/null 2>&1; then echo "apt=yes"; else echo "apt=no"; fi
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "$(id -un) is not root and $host has no sudo"
    echo "==> $(id -un) is not root on $host: continuing with sudo"
    exec sudo -- bash "${BASH_SOURCE[0]}" "${orig_args[@]}"
fi

umask 022
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case $name in
    cliser-pi-client) kind=client cfg_name=pi-client.toml ;;
    cliser-server) kind=server cfg_name=server.toml ;;
    *) die "unknown --name: '$name'" ;;
esac
user=cliser
unit=$name.service
bin_dst=$R/usr/local/bin/$name
unit_dst=$R/etc/systemd/system/$unit
cfg_dst=$R/etc/cliser/$cfg_name
pw_dst=$R/etc/cliser/password
admin_dst=$R/etc/cliser/admin-password
token_dst=$R/etc/cliser/token
ca_dst=$R/etc/cliser/ca.pem
rule_dst=$R/etc/udev/rules.d/60-cliser-w1.rules

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

changes=0
report() { printf '  %-9s %s\n' "$1" "$2"; }
changed() { changes=$((changes + 1)); report "$1" "$2"; }

# in_group GROUP USER: USER is a supplementary member of GROUP.
in_group() {
    getent group "$1" | awk -F: -v u="$2" '{ n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) f = 1 } END { exit !f }'
}

# ensure_dir DIR: create it (0755) if missing.
ensure_dir() {
    [ -d "$1" ] && return 0
    if [ "$dry" -eq 1 ]; then changed dir "$1: would be created"; return 0; fi
    mkdir -p "$1"
    chmod 0755 "$1"
    changed dir "$1: created"
}

# install_file SRC DST MODE OWNER LABEL: put SRC at DST (atomically, by rename) unless DST already
# has the same bytes; fix only the mode of an identical DST. OWNER may be empty (root). Never prints
# the contents.
install_file() {
    local src=$1 dst=$2 mode=$3 owner=$4 label=$5 cur verb tmp
    if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
        cur=$(stat -c %a "$dst")
        if [ "$cur" = "${mode#0}" ]; then
            report "$label" "$dst: unchanged"
        elif [ "$dry" -eq 1 ]; then
            changed "$label" "$dst: mode $cur would become $mode"
        else
            chmod "$mode" "$dst"
            changed "$label" "$dst: mode $cur -> $mode"
        fi
        return 0
    fi
    verb=installed
    [ -e "$dst" ] && verb=replaced
    if [ "$dry" -eq 1 ]; then
        changed "$label" "$dst: would be $verb (mode $mode${owner:+, owner $owner})"
        return 0
    fi
    tmp="$(dirname "$dst")/.$(basename "$dst").deploy-$$"
    (umask 077 && cp "$src" "$tmp")
    if [ -n "$owner" ]; then chown "$owner" "$tmp"; fi
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$dst"
    changed "$label" "$dst: $verb (mode $mode${owner:+, owner $owner})"
}

# set_key FILE KEY VALUE: make FILE say `KEY = VALUE` (VALUE already TOML): replace the first active
# `KEY =` line, else uncomment the first `# KEY =` line, else append.
set_key() {
    local file=$1 key=$2 value=$3
    awk -v key="$key" -v line="$key = $value" '
        FNR == NR {
            if (!active && $0 ~ "^[ \t]*" key "[ \t]*=") active = FNR
            if (!commented && $0 ~ "^[ \t]*#[ \t]*" key "[ \t]*=") commented = FNR
            next
        }
        FNR == (active ? active : commented) { print line; done = 1; next }
        { print }
        END { if (!done) print line }
    ' "$file" "$file" >"$file.new"
    mv "$file.new" "$file"
}

# The default client id: the first label of the host name, as the client itself would use, cut to
# the protocol's 1-32 of [A-Za-z0-9._-].
default_id() {
    local h
    h=$(printf '%s' "${host%%.*}" | tr -c 'A-Za-z0-9._-' '-' | cut -c1-32)
    printf '%s' "${h:-pi}"
}

where=""
[ -n "$R" ] && where=" (under $R)"
if [ "$dry" -eq 1 ]; then
    echo "==> dry run: what deploying $name to $host$where would do (nothing is changed)"
else
    echo "==> deploying $name to $host$where"
fi

# The config is made first: what is wrong with it stops the deploy before anything changes.
want=$scratch/$cfg_name
if [ -f "$here/config.toml" ]; then
    cp "$here/config.toml" "$want"
elif [ -f "$cfg_dst" ]; then
    cp "$cfg_dst" "$want"
else
    cp "$here/example.toml" "$want"
    if [ "$kind" = client ] && [ -z "$id" ]; then
        id=$(default_id)
        report config "new config: id = \"$id\" (from the host name; --id ID to choose)"
    fi
fi
[ -n "$id" ] && set_key "$want" id "\"$id\""
[ -n "$server_addr" ] && set_key "$want" server "\"$server_addr\""
[ "$kind" = server ] && [ -f "$here/admin-password" ] && set_key "$want" admin-password-file "\"/etc/cliser/admin-password\""
# The client's own token is what it sends for the password.
[ "$kind" = client ] && [ -f "$here/token" ] && set_key "$want" password-file "\"/etc/cliser/token\""
if [ "$kind" = client ] && [ -f "$here/ca.pem" ]; then
    set_key "$want" tls-ca "\"/etc/cliser/ca.pem\""
    # The client refuses a CA with a plain server (exit 2): say so here rather than in its journal.
    servers=$(sed -n 's/^[ \t]*server[ \t]*=[ \t]*"\(.*\)"[ \t]*$/\1/p' "$want")
    for s in ${servers//,/ }; do
        [[ $s == tls://* ]] || die "with --tls-ca every server must be tls://HOST:PORT, and the config says server = \"$servers\" (give --server-addr tls://HOST:PORT)"
    done
fi

# --deb: the package (binary, unit, udev rule, user, /etc/cliser) instead of the steps below it replaces.
if [ "$deb" -eq 1 ]; then
    [ -z "$R" ] || die "--deb installs into / only"
    [ -f "$here/package.deb" ] || die "no package was uploaded"
    # A deploy without --deb came first: its unit in /etc/systemd/system would shadow the package's
    # (and run its binary in /usr/local/bin), its rule in /etc/udev/rules.d the package's. They are
    # deploy.sh's own files: disabled and removed before the package comes, which enables its own.
    for old in "$unit_dst" "$bin_dst" "$rule_dst"; do
        [ -e "$old" ] || continue
        if [ "$dry" -eq 1 ]; then
            changed old "$old: would be removed (the package's replaces it)"
            continue
        fi
        if [ "$old" = "$unit_dst" ]; then
            systemctl disable --quiet "$unit" || true
        fi
        rm -f "$old"
        changed old "$old: removed (the package's replaces it)"
        if [ "$old" = "$unit_dst" ]; then
            systemctl daemon-reload
        fi
    done
    new_version=$(dpkg-deb -f "$here/package.deb" Version)
    installed=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)
    if [ "$installed" = "install ok installed $new_version" ]; then
        report package "$name $new_version is installed: unchanged"
    elif [ "$dry" -eq 1 ]; then
        case $installed in
            "install ok installed "*) changed package "$name ${installed##* } would be replaced by $new_version" ;;
            *) changed package "$name $new_version would be installed" ;;
        esac
    else
        # Its output (the postinst's notes among it) indented under the step. No terminal: a
        # question from dpkg fails the install rather than hanging it.
        if command -v apt-get >/dev/null 2>&1; then
            how=apt-get
            # APT::Sandbox::User=root: the package sits in a private dir that apt's own user cannot read.
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                -o APT::Sandbox::User=root -o Dpkg::Use-Pty=0 "$here/package.deb" </dev/null 2>&1 | sed 's/^/    | /'
        else
            how="dpkg -i"
            DEBIAN_FRONTEND=noninteractive dpkg -i "$here/package.deb" </dev/null 2>&1 | sed 's/^/    | /'
        fi
        case $installed in
            "install ok installed "*) changed package "$name ${installed##* } -> $new_version ($how)" ;;
            *) changed package "$name $new_version installed ($how)" ;;
        esac
    fi
fi

if [ "$deb" -eq 0 ]; then
    ensure_dir "$R/usr/local/bin"
    ensure_dir "$R/etc/systemd/system"
fi
ensure_dir "$R/etc/cliser"

# The system user the service runs as; a client's is in the gpio group for the GPIO backend.
gpio=0
if [ "$kind" = client ] && getent group gpio >/dev/null; then gpio=1; fi
if [ "$deb" -eq 1 ]; then
    report user "the package's: $user"
elif getent passwd "$user" >/dev/null; then
    report user "$user exists"
    if [ "$gpio" -eq 1 ] && ! in_group gpio "$user"; then
        if [ "$dry" -eq 1 ]; then
            changed user "$user would be added to group gpio"
        else
            usermod -a -G gpio "$user"
            changed user "$user added to group gpio"
        fi
    fi
else
    useradd_args=(--system --user-group --home-dir /var/lib/cliser --no-create-home --shell /usr/sbin/nologin --comment "cliser service")
    groups=""
    if [ "$gpio" -eq 1 ]; then
        useradd_args+=(--groups gpio)
        groups=" (in group gpio)"
    fi
    if [ "$dry" -eq 1 ]; then
        changed user "system user $user would be created$groups"
    else
        useradd "${useradd_args[@]}" "$user"
        changed user "system user $user created$groups"
    fi
fi
if [ "$kind" = client ] && [ "$gpio" -eq 0 ] && [ "$deb" -eq 0 ]; then
    report user "no gpio group on $host: only the w1 and sim sensors will work (not gpio:PIN)"
fi

# The binary, the unit, the config.
unit_changed=0
if [ "$deb" -eq 1 ]; then
    :
elif [ -f "$here/bin" ]; then
    install_file "$here/bin" "$bin_dst" 0755 "" binary
elif [ "$dry" -eq 1 ]; then
    changed binary "$bin_dst: would be replaced by the freshly built binary"
else
    die "no binary was uploaded"
fi
if [ "$deb" -eq 0 ]; then
    changes_before_unit=$changes
    install_file "$here/unit" "$unit_dst" 0644 "" unit
    unit_changed=$((changes - changes_before_unit))
fi

install_file "$want" "$cfg_dst" 0644 "" config

# The udev rule that lets group cliser (made above) write the w1 sensors' resolution and the bus's
# bulk conversion. A new rule is applied to the sensors there now, before the service restarts;
# without udevadm (or udevd) it applies from the next boot, when every device is announced again.
if [ "$kind" = client ] && [ -f "$here/w1.rules" ]; then
    ensure_dir "$R/etc/udev"
    ensure_dir "$R/etc/udev/rules.d"
    changes_before_rule=$changes
    install_file "$here/w1.rules" "$rule_dst" 0644 "" udev
    if [ "$changes" -eq "$changes_before_rule" ]; then
        :
    elif [ "$dry" -eq 1 ]; then
        report udev "would run: udevadm control --reload; udevadm trigger --settle --subsystem-match=w1 --action=add"
    elif ! command -v udevadm >/dev/null 2>&1; then
        report udev "no udevadm on $host: the rule applies from the next boot"
    elif udevadm control --reload && udevadm trigger --settle --subsystem-match=w1 --action=add; then
        report udev "rules reloaded, the w1 devices re-announced (udevadm trigger --subsystem-match=w1 --action=add)"
    else
        report udev "udevadm failed (see above): the rule applies from the next boot"
    fi
fi

# The token and the password: readable by the service user only. A Pi with a token needs no password.
if [ "$kind" = client ] && [ -f "$here/token" ]; then
    install_file "$here/token" "$token_dst" 0400 "$user:$user" token
elif [ "$kind" = client ] && [ -e "$token_dst" ]; then
    install_file "$token_dst" "$token_dst" 0400 "$user:$user" token
fi
# The fleet CA is public, but 0400 to the service user like the secrets: one rule for /etc/cliser.
if [ "$kind" = client ] && [ -f "$here/ca.pem" ]; then
    install_file "$here/ca.pem" "$ca_dst" 0400 "$user:$user" tls-ca
elif [ "$kind" = client ] && [ -e "$ca_dst" ]; then
    install_file "$ca_dst" "$ca_dst" 0400 "$user:$user" tls-ca
fi
if [ -f "$here/password" ]; then
    install_file "$here/password" "$pw_dst" 0400 "$user:$user" password
elif [ -e "$pw_dst" ]; then
    install_file "$pw_dst" "$pw_dst" 0400 "$user:$user" password
elif [ "$kind" = client ] && { [ -f "$here/token" ] || [ -e "$token_dst" ]; }; then
    report password "none: $host logs in with its own token ($token_dst)"
elif [ "$dry" -eq 1 ]; then
    changed password "$pw_dst: would be created (from CLISER_PASSWORD or a prompt)"
else
    die "$pw_dst does not exist and no password was given (set CLISER_PASSWORD)"
fi
if [ "$kind" = server ] && [ -f "$here/admin-password" ]; then
    install_file "$here/admin-password" "$admin_dst" 0400 "$user:$user" admin
fi

# systemd: reload on a new unit, enable once, restart on any change.
if [ "$unit_changed" -gt 0 ]; then
    if [ "$dry" -eq 1 ]; then report systemd "would run: systemctl daemon-reload"; else systemctl daemon-reload; report systemd "daemon reloaded"; fi
fi
if systemctl is-enabled --quiet "$unit" 2>/dev/null; then
    report systemd "$unit is enabled"
elif [ "$dry" -eq 1 ] && [ "$deb" -eq 1 ]; then
    report systemd "$unit: the package enables it"
elif [ "$dry" -eq 1 ]; then
    changed systemd "$unit would be enabled"
else
    systemctl enable --quiet "$unit"
    changed systemd "$unit enabled (starts at boot)"
fi

since=""
if [ "$changes" -gt 0 ] || [ "$force_restart" -eq 1 ]; then
    if [ "$dry" -eq 1 ]; then
        report systemd "$unit would be restarted"
    else
        since=$(date +%s)
        systemctl restart "$unit"
        report systemd "$unit restarted"
    fi
elif systemctl is-active --quiet "$unit" 2>/dev/null; then
    report systemd "$unit is running; nothing changed, so it is not restarted (--restart forces it)"
elif [ "$dry" -eq 1 ]; then
    changed systemd "$unit is not running: would be started"
else
    since=$(date +%s)
    systemctl start "$unit"
    changed systemd "$unit was not running: started"
fi

if [ "$dry" -eq 1 ]; then
    if [ "$changes" -eq 0 ]; then echo "==> dry run: nothing would change"; else echo "==> dry run: $changes change(s) would be made"; fi
    exit 0
fi

# Let the user see it connect (or fail to).
journal_args=(-u "$unit" --no-pager -o short-iso)
if [ -n "$since" ]; then journal_args+=(--since "@$since"); else journal_args+=(-n 20); fi
if [ "$follow" -gt 0 ]; then
    echo "==> journalctl ${journal_args[*]} -f   (for ${follow}s)"
    timeout "$follow" journalctl "${journal_args[@]}" -f || true
else
    echo "==> journalctl ${journal_args[*]}"
    journalctl "${journal_args[@]}" || true
fi

if ! systemctl is-active --quiet "$unit"; then
    echo "!! $unit is not running on $host: journalctl -u $unit -e" >&2
    exit 1
fi
if [ "$changes" -eq 0 ]; then
    echo "==> nothing changed; $unit is running"
else
    echo "==> done: $changes change(s); $unit is running"
fi
