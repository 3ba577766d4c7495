//! `Browser` against the real Chromium on a page of its own (no server): evaluation, waiting,
//! clicking, screenshots and the Performance API; dropping it leaves no process behind; a browser
//! that dies at start fails with its own words.

use cliser_testkit::Browser;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

#[test]
fn it_evaluates_clicks_screenshots_and_leaves_nothing_running() {
    let Some(mut b) = Browser::launch() else { return };
    b.navigate("data:text/html,<button onclick=\"document.title = 'clicked'\">press</button>");
    assert_eq!(b.eval("new Promise((ok) => setTimeout(() => ok(40 + 2), 10))"), 42, "a promise is awaited");
    assert_eq!(b.eval("undefined"), serde_json::Value::Null);
    let err = b.try_eval("null.x").unwrap_err();
    assert!(err.contains("TypeError"), "{err}");

    b.click("button");
    b.wait_for("document.title === 'clicked'", T, "the click");
    b.eval("performance.mark('here')");
    let marks = b.performance_entries("mark");
    assert!(marks.iter().any(|m| m["name"] == "here" && m["startTime"].as_f64().is_some()), "{marks:?}");
    assert_eq!(b.performance_entries("navigation").len(), 1);

    let dir = tempfile::tempdir().expect("temp dir");
    let png = dir.path().join("shots").join("page.png");
    b.screenshot(&png);
    let bytes = std::fs::read(&png).expect("the screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");

    let pgid = b.pid() as libc::pid_t;
    drop(b);
    cliser_testkit::wait_until(T, "Chromium's process group to be gone", || {
        // SAFETY: signal 0 to a process group only asks whether a member is left.
        (unsafe { libc::kill(-pgid, 0) } == -1).then_some(())
    });
}

#[test]
fn a_browser_that_dies_at_start_fails_with_its_stderr() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = dir.path().join("chromium");
    std::fs::write(&fake, "#!/bin/sh\necho 'no display, no luck' >&2\nexit 3\n").expect("write the fake");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let failed = std::panic::catch_unwind(|| Browser::launch_program(&fake)).expect_err("it cannot start");
    let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("exited") && message.contains("no display, no luck"), "{message}");
}
