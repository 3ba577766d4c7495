//! Reloading the config file while clients stay connected (SIGHUP and the console's `R`), and the
//! console's `204:all`.

use crate::alert_kit;
use crate::common;
use alert_kit::*;
use common::*;

const GOOD: &str = "[sensors.\"28-a\"]\nname = \"freezer\"\nmax = -15.0\n";

/// Sends one reading of 28-a and returns its log line.
fn reading_line(s: &ServerHandle, pi: &mut Pi) -> String {
    pi.answer(&[R("28-a", Some(-12.0), None)]);
    let seq = pi.seq;
    cliser_testkit::wait_until(T, &format!("reading seq={seq} in the log"), || {
        s.log()
            .lines_with("reading cid=pi sensor=28-a ")
            .into_iter()
            .find(|l| l.ends_with(&format!(" seq={seq}")))
    })
}

#[test]
fn a_broken_file_is_refused_with_its_reason_and_a_good_one_is_in_force_for_the_next_readings() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let s = start(dir.path(), GOOD, &[]);
    let mut console = admin(&s);
    let mut pi = Pi::login(&s, "pi");
    assert!(reading_line(&s, &mut pi).contains(r#"sensor=28-a name="freezer" temp_c=-12.000"#));
    s.log().wait_for("alert firing: freezer (pi/28-a) above max -15.0: -12.000", T);

    // Not TOML: SIGHUP is refused, the ERROR line says why, the settings in force stay.
    write_config(dir.path(), "[sensors.\"28-a\"\nname = \"fridge\"\n");
    s.proc.signal(libc::SIGHUP);
    let refused = s.log().wait_for("reload refused, the settings in force are kept: ", T);
    assert!(refused.contains("ERROR"), "{refused}");
    assert!(refused.contains("server.toml"), "names the file: {refused}");
    assert!(reading_line(&s, &mut pi).contains(r#"name="freezer""#));

    // TOML, but a wrong value: the console's R answers why, naming the table and the key.
    write_config(dir.path(), "[sensors.\"28-a\"]\nname = \"fridge\"\nmax = \"hot\"\n");
    let answer = ask(&mut console, "R");
    assert!(answer.starts_with("error: "), "{answer}");
    assert!(answer.contains(r#"[sensors."28-a"] max: expected a number"#), "{answer}");
    assert_eq!(s.log().count("reload refused, the settings in force are kept: "), 2);
    assert!(reading_line(&s, &mut pi).contains(r#"name="freezer""#));
    assert!(ask(&mut console, "A").contains("freezer (pi/28-a) above max"), "still firing");

    // A good file by SIGHUP: the new name in the next reading's line.
    write_config(dir.path(), "[sensors.\"28-a\"]\nname = \"fridge\"\nmax = -15.0\n");
    s.proc.signal(libc::SIGHUP);
    let reloaded = s.log().wait_for("reloaded ", T);
    assert!(reloaded.contains("server.toml: 1 sensors named, 1 with limits"), "{reloaded}");
    assert!(reading_line(&s, &mut pi).contains(r#"sensor=28-a name="fridge" temp_c=-12.000"#));

    // And by R; this one drops the max, which resolves its alert.
    write_config(dir.path(), "[sensors.\"28-a\"]\nname = \"cellar\"\n");
    let answer = ask(&mut console, "R");
    assert!(
        answer.starts_with("ok: reloaded ") && answer.ends_with("1 sensors named, 0 with limits"),
        "{answer}"
    );
    assert!(reading_line(&s, &mut pi).contains(r#"sensor=28-a name="cellar" temp_c=-12.000"#));
    s.log().wait_for("alert resolved: cellar (pi/28-a): above_max no longer watched (settings reloaded)", T);
    assert_eq!(ask(&mut console, "A"), "No alerts firing");
    assert_eq!(s.log().count("alert firing:"), 1);
    assert_eq!(s.log().count("alert resolved:"), 1);
    // Nobody was disconnected by any of it.
    assert_eq!(s.log().count("disconnected "), 0);
    assert_eq!(s.log().count("registered cid=pi "), 1);
}

#[test]
fn console_204_all_sends_130_to_every_registered_client_and_answers_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let s = start(dir.path(), "", &[]);
    // A real Pi client whose shutdown command leaves a mark.
    let mark = dir.path().join("powered-off");
    let shutdown = format!("touch {}", mark.display());
    let real_log = dir.path().join("pi-real.log");
    let mut real = pi_client(
        s.addr,
        &s.password,
        "pi-real",
        &dir.path().join("pi-state"),
        &real_log,
        &["--interval", "500ms", "--shutdown-command", &shutdown],
    );
    s.log().wait_for("registered cid=pi-real ", T);
    let mut scripted: Vec<Pi> = ["pi-a", "pi-b"].iter().map(|id| Pi::login(&s, id)).collect();
    // Connected but not registered: no 130 for it, and not counted.
    let mut stranger = LineClient::connect(s.addr);
    stranger.expect("110", T);

    let mut console = admin(&s);
    assert_eq!(ask(&mut console, "204:all"), "ok: 130 sent to 3 clients");
    let warned = s.log().wait_for("console 204:all: 130 (shut down) sent to 3 clients", T);
    assert!(warned.contains("WARN"), "{warned}");
    for pi in &mut scripted {
        let line = loop {
            let line = pi.c.recv(T).expect("the server closed the connection before 130");
            if line.starts_with("100") {
                pi.c.send("100");
            } else {
                break line;
            }
        };
        assert_eq!(line, "130: shutdown sys", "{}", pi.id);
        pi.c.send("130");
        s.log().wait_for(&format!("cid={} acknowledged 130", pi.id), T);
    }
    cliser_testkit::wait_until(T, "the real Pi's shutdown command", || mark.exists().then_some(()));
    s.log().wait_for("cid=pi-real acknowledged 130", T);
    real.wait_exit(T);
    stranger.send(&s.password);
    stranger.expect("120", T);
}

#[test]
fn a_resolution_after_a_reload_tells_the_new_name_and_limit_in_its_message_variables_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let rec = Recorder::new(dir.path());
    let hook = Hook::answering();
    let targets = format!("[alerts]\ncommand = \"{}\"\nwebhook = \"{}\"\n", rec.script.display(), hook.url);
    let s = start(dir.path(), &format!("{GOOD}{targets}"), &[]);
    let mut pi = Pi::login(&s, "pi");
    pi.answer(&[R("28-a", Some(-12.0), None)]);
    s.log().wait_for("alert firing: freezer (pi/28-a) above max -15.0: -12.000", T);

    // Renamed, and the max moved: still above it, so still firing.
    write_config(dir.path(), &format!("[sensors.\"28-a\"]\nname = \"chest\"\nmax = -13.0\n{targets}"));
    s.proc.signal(libc::SIGHUP);
    s.log().wait_for("reloaded ", T);
    pi.answer(&[R("28-a", Some(-14.0), None)]);
    let resolved = s.log().wait_for("alert resolved: ", T);
    let message = "chest (pi/28-a) back below max -13.0: -14.000";
    assert!(resolved.contains(&format!("alert resolved: {message} (was above max for ")), "{resolved}");
    pi.settle();

    let all = rec.wait_count(2, T);
    let env = *with(&all, "STATE", "resolved").first().expect("the resolution's command");
    assert!(env["CLISER_ALERT_MESSAGE"].starts_with(message), "{env:#?}");
    assert_eq!((env["CLISER_ALERT_NAME"].as_str(), env["CLISER_ALERT_LIMIT"].as_str()), ("chest", "-13.000"));
    let fired = *with(&all, "STATE", "firing").first().expect("the firing's command");
    assert_eq!(
        (fired["CLISER_ALERT_NAME"].as_str(), fired["CLISER_ALERT_LIMIT"].as_str()),
        ("freezer", "-15.000")
    );
    let posts = hook.wait_posts(2, T);
    let json = &posts.iter().find(|p| p.json["state"] == "resolved").expect("the resolution's POST").json;
    assert_eq!((json["name"].as_str(), json["limit"].as_str()), (Some("chest"), Some("-13.000")));
    assert!(json["message"].as_str().is_some_and(|m| m.starts_with(message)), "{json:#}");
}
