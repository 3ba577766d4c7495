//! The web page's first-load figures, for `bench/web-page.sh`: loads the page at URL in a fresh
//! headless Chromium (a new profile, so an empty cache) LOADS times and prints, as `key=value`
//! lines, the bytes it transferred and the time from navigation start to the page's
//! `cliser-values-shown` mark (the first temperature on screen), median and max.
//!
//! Usage: page_figures URL [LOADS] [NODES] [--chart CID]
//!
//! With `--chart CID`, each load then opens the 30-day chart of all of CID's sensors together
//! (`CliserChart.open`, as the page's "chart all" does) and times it in the page, from the call to
//! the animation frame after the chart was drawn with its readings (`chart_ms_*`).
//!
//! Bytes are the Performance API's: the navigation entry (the HTML) plus every resource entry
//! (app.js, app.css, favicon.svg, and the `/api/readings` fetches of the sparklines, one per node:
//! the load is over once every file the HTML links and NODES of those fetches have finished). Each
//! figure is summed twice: `transferSize` (what came over the wire, headers included) and
//! `encodedBodySize` (the bodies alone). Not in them: the `/api/events` stream, which never
//! finishes and so never gets an entry (the script reports the size of `/api/nodes`, which is what
//! its first event, the snapshot, carries).
//!
//! Times are from the navigation start (the document's time origin) to the end of the HTML's
//! response, to DOMContentLoaded, and to the `cliser-values-shown` mark.

use cliser_testkit::Browser;
use serde_json::Value;
use std::time::Duration;

/// One load's figures.
struct Load {
    transfer: u64,
    encoded: u64,
    values_shown_ms: f64,
    /// Navigation start to the end of the HTML's response and to DOMContentLoaded (the deferred
    /// app.js has run, the live stream is being opened), for where the time goes.
    html_ms: f64,
    dom_ready_ms: f64,
    resources: Vec<String>,
    /// `CliserChart.open` of a node's sensors for 30 days -> the frame after it was drawn.
    chart_ms: Option<f64>,
}

/// Opens the 30-day chart of every sensor of node `$CID` and resolves with the milliseconds from
/// the call to the animation frame after the chart says it drew (`data-drawn` moves) with points.
const CHART_JS: &str = r#"(async () => {
  const nodes = (await (await fetch('/api/nodes', { cache: 'no-store' })).json()).nodes;
  const node = nodes.find((n) => n.cid === $CID);
  if (!node) throw new Error('no node ' + $CID);
  const series = node.sensors.map((s) => ({ cid: node.cid, sensor: s.sensor }));
  const panel = document.getElementById('chart');
  const before = Number(panel.dataset.drawn || 0);
  return await new Promise((resolve) => {
    const t0 = performance.now();
    const drawn = () => Number(panel.dataset.drawn || 0) > before && panel.dataset.range === '30d'
      && CliserChart._plot && CliserChart._plot.data[0].length > 0;
    const seen = new MutationObserver(() => {
      if (!drawn()) return;
      seen.disconnect();
      requestAnimationFrame(() => resolve({ ms: performance.now() - t0, points: CliserChart._plot.data[0].length,
        series: CliserChart._plot.series.length - 1 }));
    });
    seen.observe(panel, { attributes: true });
    CliserChart.open(series, '30d');
  });
})()"#;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: page_figures URL [LOADS] [NODES]";
    let url = args.next().unwrap_or_else(|| die(usage));
    let number = |a: Option<String>, default: usize| {
        a.map(|s| s.parse::<usize>().unwrap_or_else(|_| die(usage))).unwrap_or(default)
    };
    let rest: Vec<String> = args.collect();
    let (mut positional, mut chart) = (Vec::new(), None);
    let mut it = rest.into_iter();
    while let Some(a) = it.next() {
        if a == "--chart" {
            chart = Some(it.next().unwrap_or_else(|| die(usage)));
        } else {
            positional.push(a);
        }
    }
    let mut positional = positional.into_iter();
    let loads = number(positional.next(), 10).max(1);
    let nodes = number(positional.next(), 2);

    let mut runs = Vec::new();
    for i in 1..=loads {
        let Some(mut browser) = Browser::launch() else { die("chromium not found") };
        let mut load = measure(&mut browser, &url, nodes);
        if let Some(cid) = &chart {
            let js = CHART_JS.replace("$CID", &serde_json::json!(cid).to_string());
            let r = browser.eval(&js);
            eprintln!("load {i}: 30-day chart of {cid}: {r}");
            load.chart_ms = r["ms"].as_f64();
        }
        eprintln!(
            "load {i}: {} B transferred ({} B of bodies); HTML at {:.1} ms, DOMContentLoaded at {:.1} ms, \
             values shown at {:.1} ms: {}",
            load.transfer,
            load.encoded,
            load.html_ms,
            load.dom_ready_ms,
            load.values_shown_ms,
            load.resources.join(", ")
        );
        runs.push(load);
    }

    let transfer: Vec<f64> = runs.iter().map(|r| r.transfer as f64).collect();
    let encoded: Vec<f64> = runs.iter().map(|r| r.encoded as f64).collect();
    let shown: Vec<f64> = runs.iter().map(|r| r.values_shown_ms).collect();
    let dom_ready: Vec<f64> = runs.iter().map(|r| r.dom_ready_ms).collect();
    let html: Vec<f64> = runs.iter().map(|r| r.html_ms).collect();
    println!("loads={loads}");
    println!("transfer_bytes_median={:.0}", median(&transfer));
    println!("transfer_bytes_max={:.0}", max(&transfer));
    println!("encoded_body_bytes_median={:.0}", median(&encoded));
    println!("encoded_body_bytes_max={:.0}", max(&encoded));
    println!("values_shown_ms_median={:.1}", median(&shown));
    println!("values_shown_ms_max={:.1}", max(&shown));
    println!("html_ms_median={:.1}", median(&html));
    println!("html_ms_max={:.1}", max(&html));
    println!("dom_ready_ms_median={:.1}", median(&dom_ready));
    println!("dom_ready_ms_max={:.1}", max(&dom_ready));
    println!("resources={}", runs[0].resources.join(" "));
    if chart.is_some() {
        let charts: Vec<f64> = runs.iter().filter_map(|r| r.chart_ms).collect();
        println!("chart_ms_median={:.1}", median(&charts));
        println!("chart_ms_max={:.1}", max(&charts));
    }
}

fn measure(browser: &mut Browser, url: &str, nodes: usize) -> Load {
    const T: Duration = Duration::from_secs(30);
    browser.navigate(url);
    browser.wait_for("document.body.dataset.valuesShown === '1'", T, "the first temperature on the page");
    // Everything the HTML links (the favicon may come last) and one sparkline fetch per node.
    let done = format!(
        "[...document.querySelectorAll('link[href], script[src]')].every((e) => \
         performance.getEntriesByName(e.href || e.src).length > 0) && \
         performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/readings')).length \
         >= {nodes}"
    );
    browser.wait_for(&done, T, "the linked files and the sparkline fetches of every node");
    let size = |e: &Value, key: &str| e[key].as_u64().unwrap_or(0);
    let mut entries = browser.performance_entries("navigation");
    let nav = entries.first().cloned().unwrap_or_else(|| die("no navigation entry"));
    let at = |key: &str| nav[key].as_f64().unwrap_or(f64::NAN);
    entries.extend(browser.performance_entries("resource"));
    let marks = browser.performance_entries("mark");
    let shown = marks
        .iter()
        .find(|m| m["name"] == "cliser-values-shown")
        .and_then(|m| m["startTime"].as_f64())
        .unwrap_or_else(|| die("no cliser-values-shown mark"));
    Load {
        transfer: entries.iter().map(|e| size(e, "transferSize")).sum(),
        encoded: entries.iter().map(|e| size(e, "encodedBodySize")).sum(),
        // The document's time origin is its navigation start.
        values_shown_ms: shown,
        html_ms: at("responseEnd"),
        dom_ready_ms: at("domContentLoadedEventEnd"),
        resources: entries
            .iter()
            .map(|e| {
                let name = e["name"].as_str().unwrap_or("?");
                let path =
                    name.split_once("://").and_then(|(_, r)| r.find('/').map(|i| &r[i..])).unwrap_or(name);
                let path = path.split('?').next().unwrap_or(path);
                format!("{path}:{}", size(e, "transferSize"))
            })
            .collect(),
        chart_ms: None,
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::MIN, f64::max)
}

fn die(message: &str) -> ! {
    eprintln!("page_figures: {message}");
    std::process::exit(2)
}
