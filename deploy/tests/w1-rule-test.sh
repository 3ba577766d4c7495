#!/usr/bin/env bash
# deploy/60-cliser-w1.rules on a fake sysfs tree, by the real udev: in a private mount namespace the
# tree is mounted on /sys (and a copy of /etc/group with a cliser group on /etc/group), `udevadm test
# --action=add` is run for every device of /sys/bus/w1/devices (what `udevadm trigger
# --subsystem-match=w1 --action=add` and a boot's coldplug do) with only this rule, and the RUN
# commands it lists are run as udevd would. Then exactly these files must have changed, to group
# cliser with group write: resolution and eeprom_cmd (Linux 5.9: eeprom) of each thermometer that has
# them, and the therm_bulk_read of the bus master that has one; nothing of the other files, the other
# bus, a non-thermometer, nor any master. "change" and "remove" events must run nothing.
#
# The tree's files and modes are the kernel's: drivers/w1/w1.c (master and slave attributes) and
# drivers/w1/slaves/w1_therm.c (DEVICE_ATTR_RW 0644, _RO 0444, _WO 0200; DS18S20s have no
# resolution, DS28EA00s add w1_seq; therm_bulk_read is made on the first thermometer's master only).
# Needs root (mount namespace); installs udev when udevadm is missing.
#
#   bash deploy/tests/w1-rule-test.sh        (a few seconds; prints "N passed, 0 failed")
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/tests/harness.sh
. "$here/harness.sh"
rule=$here/../60-cliser-w1.rules

cleanup() { if [ -n "$tmp" ]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || { echo "w1-rule-test.sh needs root (a mount namespace)"; echo "0 passed, 1 failed"; exit 1; }
if ! command -v udevadm >/dev/null 2>&1; then
    echo "installing: udev"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends udev >/dev/null
fi
command -v unshare >/dev/null 2>&1 || fail "unshare (util-linux) is missing"

tmp=$(mktemp -d /tmp/cliser-w1-rule-test.XXXXXX)
sys=$tmp/sys
mkdir -p "$sys/bus/w1/devices" "$tmp/rules" "$tmp/no-rules"
cp "$rule" "$tmp/rules/"

# attrs DIR MODE NAME...: empty files with the kernel's mode.
attrs() {
    local dir=$1 mode=$2
    shift 2
    for a in "$@"; do
        : >"$dir/$a"
        chmod "$mode" "$dir/$a"
    done
}
# device DEVPATH: a device directory as sysfs shows it: uevent, subsystem -> bus/w1, a bus link.
device() {
    local dir=$sys/devices/$1 up
    mkdir -p "$dir"
    up=$(printf '%s' "devices/$1" | sed 's#[^/]*#..#g')
    attrs "$dir" 0644 uevent
    ln -s "$up/bus/w1" "$dir/subsystem"
    ln -s "../../../devices/$1" "$sys/bus/w1/devices/$(basename "$1")"
}
master() {
    device "$1"
    attrs "$sys/devices/$1" 0444 w1_master_name w1_master_slaves w1_master_slave_count w1_master_attempts \
        w1_master_timeout w1_master_timeout_us w1_master_pointer
    attrs "$sys/devices/$1" 0664 w1_master_max_slave_count w1_master_search w1_master_pullup w1_master_add w1_master_remove
}
# thermometer DEVPATH: w1_therm's attributes of a DS18B20/DS1822/DS1825, and the hwmon reading.
thermometer() {
    device "$1"
    local dir=$sys/devices/$1
    attrs "$dir" 0444 name id temperature ext_power
    attrs "$dir" 0644 w1_slave resolution alarms conv_time features
    attrs "$dir" 0200 eeprom_cmd
    mkdir -p "$dir/hwmon/hwmon0"
    attrs "$dir/hwmon/hwmon0" 0444 temp1_input
}

master w1_bus_master1
attrs "$sys/devices/w1_bus_master1" 0644 therm_bulk_read
thermometer w1_bus_master1/28-0316a2795aff
thermometer w1_bus_master1/22-00000d2a1f02
thermometer w1_bus_master1/3b-0000001a2b3c
thermometer w1_bus_master1/10-000802b4a1c3
rm "$sys/devices/w1_bus_master1/10-000802b4a1c3/resolution"
# Linux 5.9 called eeprom_cmd "eeprom".
mv "$sys/devices/w1_bus_master1/3b-0000001a2b3c/eeprom_cmd" "$sys/devices/w1_bus_master1/3b-0000001a2b3c/eeprom"
thermometer w1_bus_master1/42-0000002f0a91
attrs "$sys/devices/w1_bus_master1/42-0000002f0a91" 0444 w1_seq
# A DS2413 switch: its output is root's and must stay so.
device w1_bus_master1/3a-0000003c5f21
attrs "$sys/devices/w1_bus_master1/3a-0000003c5f21" 0444 name id state
attrs "$sys/devices/w1_bus_master1/3a-0000003c5f21" 0200 output
# A second bus: w1_therm counts thermometers over all buses and puts therm_bulk_read on the first's.
master w1_bus_master2
thermometer w1_bus_master2/28-0416b4c261ff

# The cliser group exists only in the namespace's /etc/group.
cp /etc/group "$tmp/group"
gid=64990
while getent group "$gid" >/dev/null; do gid=$((gid + 1)); done
echo "cliser:x:$gid:" >>"$tmp/group"

# Everything of the tree: path, mode, group.
snapshot() { (cd "$sys" && find . ! -type l -printf '%p %M %G\n' | sort); }
before=$(snapshot)

# In the namespace: udevadm test for each device and action, the RUN commands run for "add".
# SYSTEMD_DEVICE_VERIFY_SYSFS=0: the tree is not sysfs.
unshare --mount --propagation private bash -s "$sys" "$tmp" >"$tmp/ns.out" 2>&1 <<'NS' || { cat "$tmp/ns.out"; fail "the namespace run failed"; }
set -euo pipefail
sys=$1 tmp=$2
mount --bind "$sys" /sys
mount --bind "$tmp/group" /etc/group
mount --bind "$tmp/rules" /etc/udev/rules.d
for d in /usr/lib/udev/rules.d /lib/udev/rules.d /run/udev/rules.d; do
    if [ -d "$d" ]; then mount --bind "$tmp/no-rules" "$d"; fi
done
mount -t tmpfs tmpfs /run
for action in add change remove; do
    for dev in /sys/bus/w1/devices/*; do
        devpath=$(cd -P "$dev" && pwd)
        SYSTEMD_DEVICE_VERIFY_SYSFS=0 udevadm test --action="$action" "$devpath" >"$tmp/test.out" 2>&1 ||
            { cat "$tmp/test.out"; exit 1; }
        grep -q "Reading rules file: /etc/udev/rules.d/60-cliser-w1.rules" "$tmp/test.out" ||
            { cat "$tmp/test.out"; echo "udevadm did not read the rule"; exit 1; }
        sed -n "s/^run: '\(.*\)'\$/\1/p" "$tmp/test.out" | while read -r cmd; do
            echo "$action ${devpath#/sys} $cmd" >>"$tmp/runs"
            # Split on blanks as udev does; the rule quotes nothing.
            # shellcheck disable=SC2086
            [ "$action" != add ] || $cmd
        done
    done
done
touch "$tmp/runs"
NS

after=$(snapshot)
changed=$(diff <(echo "$before") <(echo "$after") | sed -n 's/^> //p' || true)
expected=$(sort <<EOF
./devices/w1_bus_master1/10-000802b4a1c3/eeprom_cmd --w--w---- cliser
./devices/w1_bus_master1/22-00000d2a1f02/eeprom_cmd --w--w---- cliser
./devices/w1_bus_master1/22-00000d2a1f02/resolution -rw-rw-r-- cliser
./devices/w1_bus_master1/28-0316a2795aff/eeprom_cmd --w--w---- cliser
./devices/w1_bus_master1/28-0316a2795aff/resolution -rw-rw-r-- cliser
./devices/w1_bus_master1/3b-0000001a2b3c/eeprom --w--w---- cliser
./devices/w1_bus_master1/3b-0000001a2b3c/resolution -rw-rw-r-- cliser
./devices/w1_bus_master1/42-0000002f0a91/eeprom_cmd --w--w---- cliser
./devices/w1_bus_master1/42-0000002f0a91/resolution -rw-rw-r-- cliser
./devices/w1_bus_master1/therm_bulk_read -rw-rw-r-- cliser
./devices/w1_bus_master2/28-0416b4c261ff/eeprom_cmd --w--w---- cliser
./devices/w1_bus_master2/28-0416b4c261ff/resolution -rw-rw-r-- cliser
EOF
)
# The snapshot taken outside the namespace shows the group by number.
changed=${changed// $gid/ cliser}
if [ "$changed" != "$expected" ]; then echo "expected (<) and changed (>):"; diff <(echo "$expected") <(echo "$changed") || true; fi
check "the add events change exactly resolution, eeprom_cmd and therm_bulk_read, to group cliser with group write" \
    test "$changed" = "$expected"
check "every RUN is an absolute /bin/chgrp or /bin/chmod on one of those files" \
    bash -c "! grep -Ev '^add /devices/w1_bus_master[12]/[0-9a-f]{2}-[0-9a-f]{12} /bin/(chgrp cliser|chmod g\\+w) /sys/devices/w1_bus_master[12]/[0-9a-f]{2}-[0-9a-f]{12}/(resolution|eeprom_cmd|eeprom|\\.\\./therm_bulk_read)\$' '$tmp/runs'"
check "the masters' own events and the DS2413's run nothing" \
    bash -c "! grep -Eq '^add /devices/(w1_bus_master[12]|w1_bus_master1/3a-[0-9a-f]+) ' '$tmp/runs'"
check "change and remove events run nothing" bash -c "! grep -Eq '^(change|remove) ' '$tmp/runs'"
check "a missing attribute is not touched (no RUN for the DS18S20's resolution, nor master 2's therm_bulk_read)" \
    bash -c "! grep -Eq '10-000802b4a1c3/resolution|w1_bus_master2/28-0416b4c261ff/\\.\\./therm_bulk_read' '$tmp/runs'"
check "the rule names its commands by absolute path" \
    bash -c "! grep -o 'RUN+=\"[^\"]*\"' '$rule' | grep -v '^RUN+=\"/bin/'"

echo "$passed passed, 0 failed"
