//! What people do to alerts, against the real server: silences made and ended with the command
//! line while the server runs (held alerts tell neither the command nor the webhook, and are
//! delivered once when the silence ends, across a restart too), forgetting a node, and
//! acknowledging an alert on the console. Every change is written to the store by whoever makes
//! it; the server's alerts thread picks it up within a second.

use crate::alert_kit;
use crate::common;
use alert_kit::*;
use common::*;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `cliser-server ARGS --store <the server's store>`, run to its end.
fn cli(s: &ServerHandle, args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    Command::new(cliser_testkit::bin("cliser-server"))
        .current_dir(cwd.path())
        .args(args)
        .args(["--store", &s.store_url()])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The same, which must succeed: its stdout.
fn cli_ok(s: &ServerHandle, args: &[&str]) -> String {
    let o = cli(s, args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// `history --format json` of the last hour for `sensor` ("" for a node's alerts), oldest first.
fn history(s: &ServerHandle, cid: &str, sensor: &str) -> Vec<serde_json::Value> {
    let text = cli_ok(s, &["history", "--since", "1h", "--cid", cid, "--format", "json"]);
    let all: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    all.into_iter().filter(|e| e["sensor"] == sensor).collect()
}

/// Just the events' names.
fn events(s: &ServerHandle, cid: &str, sensor: &str) -> Vec<String> {
    history(s, cid, sensor).iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect()
}

/// The webhook posts about `sensor`, as (state, kind).
fn posts_about(hook: &Hook, sensor: &str) -> Vec<String> {
    hook.posts()
        .iter()
        .filter(|p| p.json["sensor"] == sensor)
        .map(|p| p.json["state"].as_str().unwrap().to_owned())
        .collect()
}

/// The command's invocations about `sensor`, by state.
fn runs_about(rec: &Recorder, sensor: &str) -> Vec<String> {
    let all = rec.invocations();
    with(&all, "SENSOR", sensor).iter().map(|e| e["CLISER_ALERT_STATE"].clone()).collect()
}

/// A config where every sensor's max is 30 and alerts go to `rec` and `hook`.
fn config(rec: &Recorder, hook: &Hook, extra: &str) -> String {
    format!(
        "[sensors]\nmax = 30.0\n{extra}[alerts]\ncommand = \"{}\"\nwebhook = \"{}\"\n",
        rec.script.display(),
        hook.url
    )
}

/// `28-mark`, never silenced, fires (`hot`) or resolves: its delivery comes after everything the
/// alerts thread delivered before, so once both receivers have it, anything earlier would be there.
fn marker(pi: &mut Pi, rec: &Recorder, hook: &Hook, hot: bool) {
    let state = if hot { "firing" } else { "resolved" };
    let (posts, runs) = (
        posts_about(hook, "28-mark").iter().filter(|s| *s == state).count(),
        runs_about(rec, "28-mark").iter().filter(|s| *s == state).count(),
    );
    pi.answer(&[R("28-mark", Some(if hot { 31.0 } else { 20.0 }), None)]);
    pi.answer_until(
        T,
        &format!("28-mark {state} delivered"),
        |_| vec![],
        || {
            let p = posts_about(hook, "28-mark").iter().filter(|s| *s == state).count();
            let r = runs_about(rec, "28-mark").iter().filter(|s| *s == state).count();
            (p > posts && r > runs).then_some(())
        },
    );
}

/// Makes a silence of `pi/28-hot` with the CLI and waits until the server has read it.
fn silence_28_hot(s: &ServerHandle, pi: &mut Pi) -> i64 {
    let before = s.log().count("alerts: silences changed: ");
    let out = cli_ok(
        s,
        &[
            "silence",
            "add",
            "--cid",
            "pi",
            "--sensor",
            "28-hot",
            "--for",
            "1h",
            "--by",
            "alice",
            "--comment",
            "defrosting",
        ],
    );
    let id: i64 = out.trim().parse().unwrap_or_else(|_| panic!("silence add printed {out:?}"));
    pi.answer_until(
        T,
        "the server to read the silence",
        |_| vec![],
        || (s.log().count("alerts: silences changed: 1 in force") > before).then_some(()),
    );
    id
}

/// 28-hot fires under the silence: recorded fired + silenced, nothing delivered.
fn fire_held(s: &ServerHandle, pi: &mut Pi, rec: &Recorder, hook: &Hook) {
    pi.answer(&[R("28-hot", Some(31.0), None)]);
    let seen = pi.answer_until(
        T,
        "fired and silenced in the history",
        |_| vec![],
        || {
            let e = events(s, "pi", "28-hot");
            (e.len() >= 2).then_some(e)
        },
    );
    assert_eq!(seen, ["fired", "silenced"]);
    marker(pi, rec, hook, true);
    assert!(posts_about(hook, "28-hot").is_empty(), "{:#?}", hook.posts());
    assert!(runs_about(rec, "28-hot").is_empty(), "{:#?}", rec.invocations());
}

/// Ends the silence with the CLI; 28-hot, still firing, is delivered exactly once.
fn end_and_expect_one_delivery(s: &ServerHandle, pi: &mut Pi, rec: &Recorder, hook: &Hook, id: i64) {
    assert_eq!(cli_ok(s, &["silence", "end", &id.to_string()]), format!("silence {id} ended\n"));
    pi.answer_until(
        T,
        "28-hot delivered once its silence ended",
        |_| vec![],
        || (posts_about(hook, "28-hot").len() == 1 && runs_about(rec, "28-hot").len() == 1).then_some(()),
    );
    assert_eq!(posts_about(hook, "28-hot"), ["firing"]);
    assert_eq!(runs_about(rec, "28-hot"), ["firing"]);
    let e = events(s, "pi", "28-hot");
    assert_eq!(e.last().map(String::as_str), Some("unsilenced"), "{e:?}");
    // And only once: a later delivery goes out, 28-hot's does not again.
    marker(pi, rec, hook, false);
    assert_eq!(posts_about(hook, "28-hot").len(), 1);
    assert_eq!(runs_about(rec, "28-hot").len(), 1);
    let again = cli(s, &["silence", "end", &id.to_string()]);
    assert_eq!(again.status.code(), Some(2), "no such silence in force any more");
}

#[test]
fn a_silence_made_with_the_cli_holds_a_firing_alert_and_ending_it_delivers_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (rec, hook) = (Recorder::new(dir.path()), Hook::answering());
    let s = start(dir.path(), &config(&rec, &hook, ""), &[]);
    let mut pi = Pi::login(&s, "pi");
    let id = silence_28_hot(&s, &mut pi);
    let listed = cli_ok(&s, &["silence", "list"]);
    assert!(listed.lines().nth(1).is_some_and(|l| l.starts_with(&format!("{id} "))), "{listed}");
    assert!(
        listed.contains("active") && listed.contains("alice") && listed.contains("defrosting"),
        "{listed}"
    );

    fire_held(&s, &mut pi, &rec, &hook);
    let held = s.log().wait_for("alert firing (held by silence ", T);
    assert!(held.ends_with("not sent): pi/28-hot above max 30.0: 31.000"), "{held}");
    let h = history(&s, "pi", "28-hot");
    assert_eq!(h[1]["by"], "alice");
    assert_eq!(h[1]["note"], format!("silence {id}: defrosting"));
    // The console shows the same.
    let mut a = admin(&s);
    let lines = ask(&mut a, "H");
    assert!(lines.contains(" fired above_max: pi/28-hot above max 30.0: 31.000"), "{lines}");
    assert!(lines.contains(&format!(" silenced above_max: pi/28-hot above max 30.0: 31.000 \u{2014} by alice: silence {id}: defrosting")), "{lines}");
    assert!(ask(&mut a, "A")
        .contains(&format!("pi/28-hot above max 30.0: 31.000 \u{2014} silenced by silence {id}")));
    assert!(ask(&mut a, "S").starts_with(&format!("silence {id}: cid=pi sensor=28-hot kind=* until ")));
    assert_eq!(
        ask(&mut a, "S+ pi *"),
        "error: S+ <cid> <sensor|name> <kind> <duration> <by> <comment...>: <kind> is missing"
    );

    end_and_expect_one_delivery(&s, &mut pi, &rec, &hook, id);
    assert_eq!(ask(&mut a, "S"), "No silences");
}

#[test]
fn a_restart_keeps_the_silence_and_ending_it_afterwards_delivers_once() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (rec, hook) = (Recorder::new(dir.path()), Hook::answering());
    let mut s = start(dir.path(), &config(&rec, &hook, ""), &[]);
    let mut pi = Pi::login(&s, "pi");
    let id = silence_28_hot(&s, &mut pi);
    fire_held(&s, &mut pi, &rec, &hook);
    marker(&mut pi, &rec, &hook, false);

    drop(pi);
    s.restart();
    let mut pi = Pi::login(&s, "pi");
    // Another alert goes out after the restart; the held one still does not.
    marker(&mut pi, &rec, &hook, true);
    assert!(posts_about(&hook, "28-hot").is_empty(), "{:#?}", hook.posts());
    assert!(runs_about(&rec, "28-hot").is_empty());
    assert_eq!(events(&s, "pi", "28-hot"), ["fired", "silenced"], "nothing new recorded at the restart");
    assert!(console_alerts(&s).contains(&format!("silenced by silence {id}")));

    end_and_expect_one_delivery(&s, &mut pi, &rec, &hook, id);
}

#[test]
fn a_held_alert_whose_silence_ended_while_the_server_was_down_is_delivered_once_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (rec, hook) = (Recorder::new(dir.path()), Hook::answering());
    let mut s = start(dir.path(), &config(&rec, &hook, ""), &[]);
    let mut pi = Pi::login(&s, "pi");
    let id = silence_28_hot(&s, &mut pi);
    fire_held(&s, &mut pi, &rec, &hook);

    drop(pi);
    s.proc.kill9();
    // The command line works on the store alone.
    assert_eq!(cli_ok(&s, &["silence", "end", &id.to_string()]), format!("silence {id} ended\n"));
    s.restart();
    let mut pi = Pi::login(&s, "pi");
    pi.answer_until(
        T,
        "28-hot delivered at start",
        |_| vec![],
        || (posts_about(&hook, "28-hot").len() == 1 && runs_about(&rec, "28-hot").len() == 1).then_some(()),
    );
    assert_eq!(posts_about(&hook, "28-hot"), ["firing"]);
    let h = history(&s, "pi", "28-hot");
    assert_eq!(h.last().unwrap()["event"], "unsilenced");
    assert_eq!(h.last().unwrap()["note"], "its silence ended while the server was down");
    marker(&mut pi, &rec, &hook, false);
    assert_eq!(posts_about(&hook, "28-hot").len(), 1, "once");
    assert_eq!(runs_about(&rec, "28-hot").len(), 1);
}

#[test]
fn forgetting_a_node_with_the_cli_resolves_its_offline_alert_as_forgotten_and_it_comes_back_when_it_connects()
{
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (rec, hook) = (Recorder::new(dir.path()), Hook::answering());
    let s = start(dir.path(), &config(&rec, &hook, "[nodes]\noffline_after = \"1s\"\n"), &[]);
    let mut pi = Pi::login(&s, "old");
    pi.answer(&[R("28-a", Some(20.0), None), R("28-b", Some(21.0), None)]);
    pi.settle();
    drop(pi);
    let firing = rec.wait_count(1, T);
    assert_eq!(
        (firing[0]["CLISER_ALERT_KIND"].as_str(), firing[0]["CLISER_ALERT_STATE"].as_str()),
        ("node_offline", "firing")
    );

    let unknown = cli(&s, &["forget", "nobody"]);
    assert_eq!(unknown.status.code(), Some(2), "an unknown node");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no node nobody known"));
    assert_eq!(cli_ok(&s, &["forget", "old"]), "forgot node old; its readings are kept\n");
    let asked = Instant::now();
    let h =
        cliser_testkit::wait_until(Duration::from_secs(2), "node_offline forgotten in the history", || {
            let h = history(&s, "old", "");
            h.iter().any(|e| e["event"] == "forgotten").then_some(h)
        });
    eprintln!("forgotten in the history {:?} after the command", asked.elapsed());
    let names: Vec<&str> = h.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names, ["fired", "forgotten"]);
    assert!(h[1]["message"]
        .as_str()
        .unwrap()
        .starts_with("node old forgotten: its node_offline alert (since "));
    let all = rec.wait_count(2, T);
    let forgotten = with(&all, "STATE", "forgotten");
    assert_eq!(forgotten.len(), 1, "{all:#?}");
    assert_eq!(forgotten[0]["CLISER_ALERT_KIND"], "node_offline");
    hook.wait_posts(2, T);
    let states: Vec<String> =
        hook.posts().iter().map(|p| p.json["state"].as_str().unwrap().to_owned()).collect();
    assert_eq!(states, ["firing", "forgotten"]);
    assert_eq!(console_alerts(&s), "No alerts firing");
    let mut a = admin(&s);
    assert!(!ask(&mut a, "L").contains("cid=old"));
    // Forgotten, not deleted: its readings are still there.
    let kept: Vec<serde_json::Value> =
        serde_json::from_str(&cli_ok(&s, &["query", "--cid", "old", "--since", "1h", "--format", "json"]))
            .unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!(
        cli_ok(&s, &["forget", "old", "--delete-readings"]),
        "forgot node old; deleted 2 raw readings and its hourly rollups\n"
    );
    let gone: Vec<serde_json::Value> =
        serde_json::from_str(&cli_ok(&s, &["query", "--cid", "old", "--since", "1h", "--format", "json"]))
            .unwrap();
    assert!(gone.is_empty(), "{gone:?}");

    // It connects again: known again, and watched again (offline once more when it goes).
    let mut pi = Pi::login(&s, "old");
    pi.answer(&[R("28-a", Some(20.0), None)]);
    pi.settle();
    let mut store = cliser_store::open(&s.store_url()).unwrap();
    assert!(store.nodes().unwrap().iter().any(|n| n.cid.as_str() == "old"), "back in the store's nodes");
    drop(pi);
    let all = rec.wait_count(3, T);
    assert_eq!(with(&all, "STATE", "firing").len(), 2, "{all:#?}");
    assert_eq!(with(&all, "STATE", "forgotten").len(), 1);
}

#[test]
fn an_acknowledgement_on_the_console_is_delivered_once_and_shown_and_the_alert_resolves_as_usual() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (rec, hook) = (Recorder::new(dir.path()), Hook::answering());
    let s = start(dir.path(), &config(&rec, &hook, ""), &[]);
    let mut pi = Pi::login(&s, "pi");
    pi.answer(&[R("28-hot", Some(31.0), None)]);
    pi.answer_until(
        T,
        "the firing delivered",
        |_| vec![],
        || (runs_about(&rec, "28-hot").len() == 1).then_some(()),
    );

    let mut a = admin(&s);
    assert_eq!(ask(&mut a, "K below_min pi/28-hot bob x"), "error: no below_min alert firing for pi/28-hot");
    assert_eq!(
        ask(&mut a, "K above_max pi/28-hot bob on it, defrosting"),
        "ok: acknowledged the above_max alert of pi/28-hot"
    );
    pi.answer_until(
        T,
        "the acknowledgement delivered",
        |_| vec![],
        || (runs_about(&rec, "28-hot").len() == 2 && posts_about(&hook, "28-hot").len() == 2).then_some(()),
    );
    let all = rec.invocations();
    let acked = with(&all, "STATE", "acknowledged");
    assert_eq!(acked.len(), 1);
    assert_eq!(acked[0]["CLISER_ALERT_BY"], "bob");
    assert_eq!(acked[0]["CLISER_ALERT_NOTE"], "on it, defrosting");
    assert_eq!(acked[0]["CLISER_ALERT_KIND"], "above_max");
    let post = hook.posts().into_iter().find(|p| p.json["state"] == "acknowledged").unwrap();
    assert_eq!(
        (post.json["by"].as_str(), post.json["note"].as_str()),
        (Some("bob"), Some("on it, defrosting"))
    );
    let shown = ask(&mut a, "A");
    assert!(shown.contains("pi/28-hot above max 30.0: 31.000 \u{2014} acknowledged by bob at "), "{shown}");
    assert!(shown.ends_with(": on it, defrosting"), "{shown}");
    let (status, body) = http_get(&s, "/api/alerts");
    assert_eq!(status, 200);
    let alerts: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(alerts["alerts"][0]["ack"]["by"], "bob", "{alerts:#}");
    assert_eq!(alerts["alerts"][0]["ack"]["note"], "on it, defrosting");
    let h = history(&s, "pi", "28-hot");
    assert_eq!(h[1]["event"], "acknowledged");
    assert_eq!((h[1]["by"].as_str(), h[1]["note"].as_str()), (Some("bob"), Some("on it, defrosting")));
    assert!(s
        .log()
        .text()
        .contains("alert acknowledged by bob: on it, defrosting: pi/28-hot above max 30.0: 31.000"));

    // It still fires, and resolves as usual; the acknowledgement is not told again.
    pi.answer(&[R("28-hot", Some(20.0), None)]);
    pi.answer_until(
        T,
        "the resolution delivered",
        |_| vec![],
        || (posts_about(&hook, "28-hot").len() == 3 && runs_about(&rec, "28-hot").len() == 3).then_some(()),
    );
    assert_eq!(posts_about(&hook, "28-hot"), ["firing", "acknowledged", "resolved"]);
    assert_eq!(with(&rec.invocations(), "STATE", "acknowledged").len(), 1);
    assert_eq!(console_alerts(&s), "No alerts firing");
}
