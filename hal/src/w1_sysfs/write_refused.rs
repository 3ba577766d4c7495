//! What to say when the kernel refuses a write to one of w1_therm's attributes: on a Pi set up by
//! deploy.sh the usual cause is a missing udev rule or unit setting, and the fix is named.

use std::io;
use std::path::Path;

/// `EROFS`: the unit's `ProtectKernelTunables=` made /sys read-only for the service.
const EROFS: i32 = 30;

/// `<path>: <error>`, and when it is a permission or read-only refusal, where the fix is.
pub(super) fn refused(path: &Path, e: &io::Error) -> String {
    let denied = e.kind() == io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(EROFS);
    if !denied {
        return format!("{}: {e}", path.display());
    }
    format!(
        "cannot write {} ({e}): the client needs the udev rule /etc/udev/rules.d/60-cliser-w1.rules \
         (deploy/60-cliser-w1.rules, installed by deploy.sh) and the unit's ReadWritePaths= for this bus; \
         see docs/raspberry-pi.md, \"Letting the client set up the sensors\"",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_rule_and_other_errors_stay_plain() {
        let p = Path::new("/sys/bus/w1/devices/28-000000000001/resolution");
        let denied = refused(p, &io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(
            denied.starts_with("cannot write /sys/bus/w1/devices/28-000000000001/resolution ("),
            "{denied}"
        );
        assert!(denied.contains("60-cliser-w1.rules"), "{denied}");
        assert!(refused(p, &io::Error::from_raw_os_error(EROFS)).contains("ReadWritePaths="));
        let other = refused(p, &io::Error::from_raw_os_error(5));
        assert!(
            other.starts_with("/sys/bus/w1/devices/28-000000000001/resolution: ") && !other.contains("udev")
        );
    }
}
