//! The watchers: who is told when readings are committed (the sink) and when nodes come and go
//! (the Manager). They are the web page's live view (when the page is served), the alerts thread
//! and the exporters. Their mailboxes are unbounded with readers that never block on I/O, so
//! telling them never waits: neither the sink nor the Manager is held up by a watcher.
//!
//! One name for one idea: the sink's former "observer" and the Manager's former "watchers" were the
//! same three mailboxes, and the exporters' [`cliser_export::Watcher`] (once their "notifier") is one
//! of them.

use cliser_alerts::Input as AlertInput;
use cliser_export::Watcher;
use cliser_protocol::ClientId;
use cliser_store::fleet::News;
use cliser_store::NewReading;
use cliser_web::{LiveEvent, Stored};
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::time::{Duration, SystemTime};

/// What a commit did, told to the watchers after the acks are published.
#[derive(Debug)]
pub enum CommitReport {
    /// A group is stored.
    Stored {
        /// The readings the store took as new.
        readings: Vec<NewReading>,
        /// Readings dropped as already stored.
        duplicates: u64,
        /// Gaps noticed in clients' seqs: the client of each.
        gaps: Vec<ClientId>,
        /// How long the commit took.
        took: Duration,
    },
    /// The commit failed; the group is held and tried again.
    Failed,
}

/// Who is told of commits and of nodes coming and going; each is optional.
#[derive(Debug, Default, Clone)]
pub struct Watchers {
    /// The web page's live view.
    pub live: Option<Sender<LiveEvent>>,
    /// The alerts thread.
    pub alerts: Option<cliser_alerts::Mailbox>,
    /// The exporters (MQTT publishes each node's availability; every exporter follows commits).
    pub export: Option<Watcher>,
    /// The other servers of a fleet (PostgreSQL), through the fleet's news.
    pub fleet: Option<Sender<News>>,
}

impl Watchers {
    /// Whether anyone is told at all (the sink builds no report for nobody).
    pub fn any(&self) -> bool {
        self.live.is_some() || self.alerts.is_some() || self.export.is_some() || self.fleet.is_some()
    }

    /// A commit: the exporters are nudged, the alerts get the readings and the gaps, the page
    /// the readings and the commit's figures.
    pub fn committed(&self, report: CommitReport) {
        match report {
            CommitReport::Stored { readings, duplicates, gaps, took } => {
                if let Some(export) = &self.export {
                    export.stored();
                }
                if !gaps.is_empty() {
                    self.alerts(AlertInput::Gaps(gaps.iter().map(|c| c.to_string()).collect()));
                }
                if let Some(fleet) = &self.fleet {
                    if !readings.is_empty() {
                        let _ = fleet.send(News::Stored(readings.clone()));
                    }
                }
                if let Some(live) = &self.live {
                    let stored = Stored {
                        readings: readings.clone(),
                        duplicates,
                        gaps: gaps.len() as u64,
                        commit: took,
                        elsewhere: false,
                    };
                    let _ = live.send(LiveEvent::Stored(stored));
                }
                self.alerts(AlertInput::Stored(readings));
            }
            CommitReport::Failed => self.live(LiveEvent::CommitFailed),
        }
    }

    /// A node's session registered.
    pub fn node_up(&self, cid: ClientId, addr: SocketAddr, at: SystemTime) {
        self.alerts(AlertInput::NodeUp(cid.to_string()));
        if let Some(export) = &self.export {
            export.node_up(cid.as_str());
        }
        if let Some(fleet) = &self.fleet {
            let _ = fleet.send(News::NodeUp { cid: cid.clone(), addr: addr.to_string(), at_ms: unix_ms(at) });
        }
        self.live(LiveEvent::NodeUp { cid, addr, at });
    }

    /// A node's last session closed.
    pub fn node_down(&self, cid: ClientId) {
        self.alerts(AlertInput::NodeDown(cid.to_string()));
        if let Some(export) = &self.export {
            export.node_down(cid.as_str());
        }
        let at = SystemTime::now();
        if let Some(fleet) = &self.fleet {
            let _ = fleet.send(News::NodeDown { cid: cid.clone(), at_ms: unix_ms(at) });
        }
        self.live(LiveEvent::NodeDown { cid, at });
    }

    /// What a node's Pi said of its sensors: the page keeps the latest (and `/api/health` shows
    /// them), the alerts thread their buses for the console's `N`.
    pub fn facts(&self, cid: ClientId, facts: Vec<cliser_protocol::SensorFactsReport>) {
        self.alerts(AlertInput::Facts(cid.to_string(), facts.clone()));
        self.live(LiveEvent::Facts { cid, facts });
    }

    /// Tells the web page's live view, if there is one.
    pub fn live(&self, event: LiveEvent) {
        if let Some(live) = &self.live {
            let _ = live.send(event);
        }
    }

    /// Tells the alerts thread, if there is one.
    pub fn alerts(&self, input: AlertInput) {
        if let Some(alerts) = &self.alerts {
            let _ = alerts.send(input);
        }
    }
}

/// `at` as Unix milliseconds (0 before 1970, which no clock here shows).
fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
