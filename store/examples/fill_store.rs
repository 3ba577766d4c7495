//! Fills a store with a fleet's history, as its server would have written it: `--clients` Pis with
//! `--sensors` sensors each, one reading of every sensor each `--interval` for `--days`, ending at
//! `--end-ms` (default: now, rounded down to the interval). Readings go through the store's own
//! `commit`, a group of `--group` readings per transaction in time order, so the raw readings,
//! rollups, nodes and sensors are exactly what a server would leave. Run in release:
//!
//! ```text
//! cargo run --release -p cliser-store --example fill_store -- --store sqlite:DIR/cliser.db
//! ```
//!
//! The defaults (5 Pis x 8 sensors every 10 s for 30 days) make 10,368,000 readings: one sensor
//! has 8,640 readings a day. Figures go to stdout as `key=value` lines, progress to stderr.

use cliser_protocol::{Celsius, ClientId, ErrorReason, SensorId, Value};
use cliser_store::{NewReading, TsQuality};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

struct Args {
    store: String,
    clients: usize,
    sensors: usize,
    days: i64,
    interval_ms: i64,
    end_ms: Option<i64>,
    group: usize,
}

const USAGE: &str = "fill_store --store URL [--clients 5] [--sensors 8] [--days 30] [--interval-s 10] \
                     [--end-ms UNIX_MS] [--group 8000]";

fn args() -> Args {
    let mut a = Args {
        store: String::new(),
        clients: 5,
        sensors: 8,
        days: 30,
        interval_ms: 10_000,
        end_ms: None,
        group: 8000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value; {USAGE}"));
        match flag.as_str() {
            "--store" => a.store = val(),
            "--clients" => a.clients = val().parse().expect("--clients N"),
            "--sensors" => a.sensors = val().parse().expect("--sensors N"),
            "--days" => a.days = val().parse().expect("--days N"),
            "--interval-s" => a.interval_ms = val().parse::<i64>().expect("--interval-s N") * 1000,
            "--end-ms" => a.end_ms = Some(val().parse().expect("--end-ms UNIX_MS")),
            "--group" => a.group = val().parse().expect("--group N"),
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}; {USAGE}"),
        }
    }
    assert!(!a.store.is_empty(), "--store is required; {USAGE}");
    assert!(a.clients > 0 && a.sensors > 0 && a.days > 0 && a.interval_ms > 0 && a.group > 0, "{USAGE}");
    a
}

/// Ids, seqs and a cheap deterministic value source (xorshift), as the store benchmark's fleet.
struct Fleet {
    clients: Vec<ClientId>,
    sensors: Vec<SensorId>,
    seq: Vec<u64>,
    rng: u64,
}

impl Fleet {
    fn new(clients: usize, sensors: usize) -> Fleet {
        Fleet {
            clients: (0..clients).map(|i| ClientId::new(&format!("pi-{i:04}")).unwrap()).collect(),
            sensors: (0..sensors).map(|i| SensorId::new(&format!("28-00000000{i:04x}")).unwrap()).collect(),
            seq: vec![0; clients],
            rng: 0x2545_f491_4f6c_dd1d,
        }
    }

    /// A temperature that drifts slowly over the day with a little noise; one reading in 500 a
    /// CRC error, as a DS18B20 on a long cable gives now and then.
    fn reading(&mut self, client: usize, sensor: usize, t: i64) -> NewReading {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.seq[client] += 1;
        let value = if self.rng.is_multiple_of(500) {
            Value::Error(ErrorReason::new("crc").unwrap())
        } else {
            let day = (t / 1000 % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU;
            let base = 18_000.0 + 300.0 * sensor as f64 + 3_000.0 * day.sin();
            let millis = base as i32 + (self.rng % 200) as i32 - 100;
            Value::Celsius(Celsius::from_millis(millis).unwrap())
        };
        NewReading {
            cid: self.clients[client].clone(),
            sensor: self.sensors[sensor].clone(),
            value,
            sampled_ms: t,
            received_ms: t + 150,
            seq: Some(self.seq[client]),
            // What a current Pi client sends: an age, counted back by the server.
            ts_quality: TsQuality::FromAge,
        }
    }
}

fn main() {
    let a = args();
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis() as i64;
    let end_ms = a.end_ms.unwrap_or(now_ms / a.interval_ms * a.interval_ms);
    let steps = a.days * 86_400_000 / a.interval_ms;
    let start_ms = end_ms - steps * a.interval_ms;
    let mut store = cliser_store::open(&a.store).unwrap_or_else(|e| panic!("open {}: {e}", a.store));
    let mut fleet = Fleet::new(a.clients, a.sensors);
    let total = steps as u64 * (a.clients * a.sensors) as u64;
    eprintln!(
        "fill_store: {} Pis x {} sensors every {} s for {} days: {total} readings into {}",
        a.clients,
        a.sensors,
        a.interval_ms / 1000,
        a.days,
        store.location()
    );
    let started = Instant::now();
    let mut group = Vec::with_capacity(a.group + a.clients * a.sensors);
    let mut done = 0u64;
    let mut next_report = Instant::now();
    // Readings at start_ms + interval .. end_ms: the last one at end_ms, so a range ending at
    // end_ms holds exactly one reading per sensor per interval.
    for step in 1..=steps {
        let t = start_ms + step * a.interval_ms;
        for c in 0..a.clients {
            for s in 0..a.sensors {
                group.push(fleet.reading(c, s, t));
            }
        }
        if group.len() >= a.group || step == steps {
            store.commit(&group).unwrap_or_else(|e| panic!("commit: {e}"));
            done += group.len() as u64;
            group.clear();
            if Instant::now() >= next_report {
                let rate = done as f64 / started.elapsed().as_secs_f64();
                eprintln!("  {done}/{total} readings, {rate:.0}/s");
                next_report += std::time::Duration::from_secs(10);
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("readings={done}");
    println!("clients={}", a.clients);
    println!("sensors={}", a.sensors);
    println!("interval_s={}", a.interval_ms / 1000);
    println!("days={}", a.days);
    println!("start_ms={start_ms}");
    println!("end_ms={end_ms}");
    println!("fill_s={secs:.1}");
    println!("fill_per_s={:.0}", done as f64 / secs);
}
