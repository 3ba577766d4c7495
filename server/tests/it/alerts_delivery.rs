//! Delivery against the real server: the alert command gets every variable docs/ALERTS.md lists, a
//! webhook the same fields as JSON, and a command that hangs or a webhook that never answers delays
//! no poll, no ack and no other alert.

use crate::alert_kit;
use crate::common;
use alert_kit::*;
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MIN_MS: i64 = 60_000;

fn since_text(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

#[test]
fn the_command_gets_every_documented_variable_and_the_webhook_the_same_fields_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let rec = Recorder::new(dir.path());
    let hook = Hook::answering();
    let config = format!(
        "[sensors.\"28-0316a2795aff\"]\nname = \"freezer\"\nmax = -15.0\n\
         [sensors.\"28-b\"]\nmax = 30\n\
         [alerts]\ncommand = \"{}\"\nwebhook = \"{}\"\n",
        rec.script.display(),
        hook.url
    );
    let s = start(dir.path(), &config, &[]);
    let mut pi = Pi::login(&s, "garage");
    // The example of docs/ALERTS.md: above max at 08:00, back below 14 minutes later.
    let t1 = now_ms() - 20 * MIN_MS;
    let t2 = t1 + 14 * MIN_MS;
    pi.answer(&[R("28-0316a2795aff", Some(-12.25), Some(t1))]);
    s.log().wait_for("alert firing:", T);
    pi.answer(&[R("28-0316a2795aff", Some(-15.75), Some(t2))]);
    s.log().wait_for("alert resolved:", T);
    pi.answer(&[R("28-b", Some(31.0), None)]);
    pi.settle();

    let vars = documented_variables();
    let all = rec.wait_count(3, T);
    assert_eq!(all.len(), 3, "{all:#?}");
    for env in &all {
        for v in &vars {
            assert!(env.contains_key(v), "{v} missing: {env:#?}");
        }
        assert!(env.keys().all(|k| vars.contains(k)), "a variable docs/ALERTS.md does not list: {env:#?}");
    }
    let expect = |e: &Env, pairs: &[(&str, &str)]| {
        for (k, v) in pairs {
            assert_eq!(e[&format!("CLISER_ALERT_{k}")], *v, "{k} of {e:#?}");
        }
    };
    let freezer = with(&all, "SENSOR", "28-0316a2795aff");
    let fired = *freezer.iter().find(|e| e["CLISER_ALERT_STATE"] == "firing").unwrap();
    let firing_msg = "freezer (garage/28-0316a2795aff) above max -15.0: -12.250";
    expect(
        fired,
        &[
            ("KIND", "above_max"),
            ("CID", "garage"),
            ("NAME", "freezer"),
            ("VALUE", "-12.250"),
            ("LIMIT", "-15.000"),
            ("SINCE", &since_text(t1)),
            ("MESSAGE", firing_msg),
        ],
    );
    let resolved = *freezer.iter().find(|e| e["CLISER_ALERT_STATE"] == "resolved").unwrap();
    let resolved_msg =
        "freezer (garage/28-0316a2795aff) back below max -15.0: -15.750 (was above max for 14m)";
    expect(resolved, &[("VALUE", "-15.750"), ("SINCE", &since_text(t1)), ("MESSAGE", resolved_msg)]);
    // The message is the log line's text.
    assert!(s.log().lines_with("alert firing:")[0].ends_with(&format!("alert firing: {firing_msg}")));
    assert!(s.log().lines_with("alert resolved:")[0].ends_with(&format!("alert resolved: {resolved_msg}")));
    let unnamed = with(&all, "SENSOR", "28-b");
    expect(unnamed[0], &[("STATE", "firing"), ("NAME", ""), ("VALUE", "31.000"), ("LIMIT", "30.000")]);

    // The webhook: the same fields, lower case without the prefix, empty ones null, in order.
    let posts = hook.wait_posts(3, T);
    assert_eq!(posts.len(), 3);
    let states: Vec<(&str, &str)> = posts
        .iter()
        .map(|p| (p.json["state"].as_str().unwrap(), p.json["sensor"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("firing", "28-0316a2795aff"), ("resolved", "28-0316a2795aff"), ("firing", "28-b")]);
    let env_of = [fired, resolved, unnamed[0]];
    for (post, env) in posts.iter().zip(env_of) {
        assert_eq!(post.request_line, "POST /hook HTTP/1.1");
        let ctype = post.headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.as_str());
        assert_eq!(ctype, Some("application/json"));
        let fields = post.json.as_object().unwrap();
        assert_eq!(fields.len(), vars.len(), "{:#}", post.json);
        for v in &vars {
            let key = v.trim_start_matches("CLISER_ALERT_").to_ascii_lowercase();
            let want = match env[v].as_str() {
                "" => serde_json::Value::Null,
                text => serde_json::json!(text),
            };
            assert_eq!(fields[&key], want, "{key} of {:#}", post.json);
        }
    }
    assert_eq!(posts[2].json["name"], serde_json::Value::Null);
}

/// When a keep-alive came, and its ack.
type Poll = (Instant, Option<u64>);

/// A well-behaved Pi on its own thread: it answers every keep-alive with one reading and notes
/// when each keep-alive came and the ack it carried.
struct GoodPi {
    stop: Arc<AtomicBool>,
    polls: Arc<Mutex<Vec<Poll>>>,
    thread: std::thread::JoinHandle<()>,
}

impl GoodPi {
    fn start(s: &ServerHandle) -> GoodPi {
        let mut pi = Pi::login(s, "good");
        let stop = Arc::new(AtomicBool::new(false));
        let polls = Arc::new(Mutex::new(Vec::new()));
        let (flag, seen) = (stop.clone(), polls.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                let ack = pi.answer(&[R("28-good", Some(-5.0), None)]);
                seen.lock().unwrap().push((Instant::now(), ack));
            }
        });
        GoodPi { stop, polls, thread }
    }

    fn polls(&self) -> usize {
        self.polls.lock().unwrap().len()
    }

    fn finish(self) -> Vec<Poll> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the good Pi failed");
        Arc::try_unwrap(self.polls).unwrap().into_inner().unwrap()
    }
}

#[test]
fn a_hanging_command_and_a_webhook_that_never_answers_delay_no_poll_no_ack_and_no_other_alert() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let rec = Recorder::new(dir.path());
    let hook = Hook::silent();
    let config = format!(
        "[sensors]\nmax = 0.0\n[alerts]\ncommand = \"{}\"\nwebhook = \"{}\"\n",
        rec.script.display(),
        hook.url
    );
    let interval = Duration::from_millis(500);
    let s = start(dir.path(), &config, &["--keepalive", "500ms"]);
    let good = GoodPi::start(&s);
    let mut pi = Pi::login(&s, "bad");

    // The first alert's command hangs (up to 60 s), its post waits for an answer that never comes.
    // (The bad Pi answers its keep-alives meanwhile, with nothing, or its session would be dead.)
    pi.answer(&[R("28-stuck", Some(1.0), None)]);
    pi.answer_until(T, "the stuck command to start", |_| vec![], || rec.stuck_started().then_some(()));
    pi.answer_until(T, "the webhook connection", |_| vec![], || (hook.connections() > 0).then_some(()));
    let stuck_at = good.polls();

    // Six more alerts fire and resolve: twelve more commands, three of them at a time.
    let sensors = ["28-s1", "28-s2", "28-s3", "28-s4", "28-s5", "28-s6"];
    pi.answer(&sensors.iter().map(|id| R(id, Some(1.0), None)).collect::<Vec<_>>());
    pi.answer_until(T, "7 firing", |_| vec![], || (s.log().count("alert firing:") >= 7).then_some(()));
    pi.answer(&sensors.iter().map(|id| R(id, Some(-1.0), None)).collect::<Vec<_>>());
    pi.answer_until(T, "6 resolved", |_| vec![], || (s.log().count("alert resolved:") >= 6).then_some(()));
    let done = pi.answer_until(
        T,
        "12 commands",
        |_| vec![],
        || {
            let all = rec.invocations();
            (all.len() >= 12).then_some(all)
        },
    );
    assert!(with(&done, "SENSOR", "28-stuck").is_empty(), "the stuck command is still running");
    for id in sensors {
        let mine = with(&done, "SENSOR", id);
        assert_eq!(mine.len(), 2, "{id}: {mine:#?}");
    }
    // The good Pi kept its pace for a while after the command and the webhook got stuck.
    pi.answer_until(
        Duration::from_secs(20),
        "six more polls of the good Pi",
        |_| vec![],
        || (good.polls() >= stuck_at + 6).then_some(()),
    );
    pi.settle();
    let polls = good.finish();
    assert!(hook.connections() >= 1);

    let gaps: Vec<Duration> = polls.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let worst = gaps.iter().max().copied().unwrap();
    assert!(worst <= interval * 3 / 2, "keep-alives {worst:?} apart (interval {interval:?}): {gaps:?}");
    // Poll i (from 0) comes after reading i was sent (seq i): its ack is i, or i - 1 at worst.
    let acks: Vec<u64> = polls.iter().map(|p| p.1.unwrap_or(0)).collect();
    for (i, &ack) in acks.iter().enumerate() {
        assert!(ack + 1 >= i as u64, "poll {i} acked only {ack}: {acks:?}");
    }
    assert!(acks.windows(2).all(|w| w[0] <= w[1]), "{acks:?}");
}
