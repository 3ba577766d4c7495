//! The MQTT connection: rumqttc's blocking `Client` used from the exporter thread, its
//! `Connection` driven by a network thread that reports to the exporter's mailbox.

use super::availability::Availability;
use super::{discovery, topics};
use crate::cursor::Feed;
use crate::error::{ConfigError, LinkDown, SendError};
use crate::runner::{Far, Input, NotReady};
use cliser_common::sensors::Settings;
use cliser_store::FeedRow;
use rumqttc::{Client, Connection, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, Transport};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `[mqtt]` in the config file, or `--mqtt URL`.
#[derive(Clone)]
pub struct MqttConfig {
    /// `mqtt://HOST:PORT` or `mqtts://HOST:PORT`, as given (for the status and log lines).
    pub url: String,
    /// The broker's host.
    pub host: String,
    /// The broker's port.
    pub port: u16,
    /// TLS (mqtts://): the CA to trust, as a rustls configuration (ring).
    pub tls: Option<Arc<cliser_tls::rustls::ClientConfig>>,
    /// User name and password, if the broker wants them.
    pub credentials: Option<(String, String)>,
    /// Prefix of the state and availability topics [default: `cliser`].
    pub prefix: String,
    /// Home Assistant's discovery prefix [default: `homeassistant`].
    pub discovery_prefix: String,
    /// The MQTT client id.
    pub client_id: String,
    /// How long after the start a node without a session is still not published `offline`
    /// [default: [`OFFLINE_AFTER_START`]].
    pub offline_after_start: Duration,
}

/// A node's Pi reconnects within seconds of a server's restart: its reconnect delays double from
/// 1 s (1, 2, 4, 8, 16 s), so after a restart that kept it away up to 15 s it is back within 16 s of
/// the start. 30 s covers that with room for a slow link, and a Pi really gone shows `offline`
/// half a minute after a restart instead of at once.
pub const OFFLINE_AFTER_START: Duration = Duration::from_secs(30);

impl std::fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttConfig")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("offline_after_start", &self.offline_after_start)
            .finish_non_exhaustive()
    }
}

impl MqttConfig {
    /// Reads `url` (`mqtt://HOST[:1883]`, `mqtts://HOST[:8883]`); `ca_pem` is the CA for mqtts
    /// (the system's bundle when `None`).
    pub fn new(
        url: &str,
        ca_pem: Option<&[u8]>,
        credentials: Option<(String, String)>,
        prefix: &str,
        discovery_prefix: &str,
    ) -> Result<MqttConfig, ConfigError> {
        let (tls, rest) = match (url.strip_prefix("mqtt://"), url.strip_prefix("mqtts://")) {
            (Some(r), _) => (false, r),
            (_, Some(r)) => (true, r),
            _ => return Err(bad(url, "expected mqtt://HOST:1883 or mqtts://HOST:8883".into())),
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => {
                (h, p.parse::<u16>().map_err(|_| bad(url, format!("{p:?} is not a port number")))?)
            }
            _ => (rest, if tls { 8883 } else { 1883 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') {
            return Err(bad(url, "expected mqtt://HOST:PORT".into()));
        }
        for (key, p) in [("prefix", prefix), ("discovery_prefix", discovery_prefix)] {
            if p.is_empty() || p.contains(['+', '#']) || p.starts_with('/') || p.ends_with('/') {
                return Err(ConfigError::BadPrefix { key, prefix: p.to_owned() });
            }
        }
        let tls = if tls {
            let bundle;
            let ca = match ca_pem {
                Some(c) => c,
                None => {
                    bundle = std::fs::read("/etc/ssl/certs/ca-certificates.crt")
                        .map_err(ConfigError::NoCaBundle)?;
                    &bundle
                }
            };
            Some(cliser_tls::client_config(ca, None).map_err(ConfigError::Ca)?)
        } else {
            None
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let client_id = format!("cliser-{}-{:x}", std::process::id(), nanos & 0xff_ffff);
        Ok(MqttConfig {
            url: url.to_owned(),
            host: host.to_owned(),
            port,
            tls,
            credentials,
            prefix: prefix.to_owned(),
            discovery_prefix: discovery_prefix.to_owned(),
            client_id,
            offline_after_start: OFFLINE_AFTER_START,
        })
    }
}

fn bad(url: &str, why: String) -> ConfigError {
    ConfigError::BadUrl { url: url.to_owned(), why }
}

/// Most readings per batch (each one message).
const BATCH: usize = 500;
/// The broker has this long to acknowledge a batch.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting (TCP, TLS and CONNACK) gives up after this long.
const CONNECT_TIMEOUT: u64 = 5;

/// What the network thread reports.
#[derive(Debug)]
enum Net {
    Up,
    Down(String),
    Sent(u16),
    Acked(u16),
    HaOnline,
    /// The broker holds this retained availability of a node: (cid, payload).
    Held(String, String),
    /// `<prefix>/status` went `offline` while connected: the last will of an earlier connection
    /// (of a server gone without a goodbye), which the broker may find dead only after ours is up.
    StatusOffline,
}

/// One connection: a client and the network thread driving it. A lost connection is dropped
/// whole and a new one made, so nothing queued for the old one is ever sent on the next (its
/// messages are sent again from the cursor, in order).
struct Link {
    client: Client,
    net: Receiver<Net>,
}

/// The MQTT far side.
pub struct Mqtt {
    config: MqttConfig,
    wake: Sender<Input>,
    link: Option<Link>,
    connected: bool,
    /// The next connection attempt, and the wait after a failed one.
    next_attempt: Instant,
    backoff: Duration,
    /// Why not connected (the first failure since the last connection).
    down: Option<String>,
    /// A connection came up and the retained topics must be published on it.
    fresh: bool,
    /// The server's status must say `online` again (a stale will said `offline`).
    restate: bool,
    /// Publishes handed to the client on this connection, and how many it put on the wire.
    published: u64,
    sent: u64,
    /// Packet ids on the wire without an acknowledgement.
    unacked: HashSet<u16>,
    /// Every node and sensor known (for availability and discovery).
    nodes: BTreeSet<String>,
    /// Each node's availability, as it is and as the broker holds it.
    availability: Availability,
    /// The grace after the start is over and every node was published as it then was.
    after_grace: bool,
    sensors: BTreeMap<(String, String), bool>,
    known_loaded: bool,
    /// The settings the configs were published with: names change on reload.
    announced_with: Option<Arc<Settings>>,
    sw_version: String,
}

const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

impl Mqtt {
    /// The far side for `config`; connects at the first look ([`Far::ready`]), in the background
    /// (a network thread that wakes `wake` when it has news).
    pub fn new(config: MqttConfig, wake: Sender<Input>) -> Mqtt {
        let grace = config.offline_after_start;
        Mqtt {
            config,
            wake,
            link: None,
            connected: false,
            next_attempt: Instant::now(),
            backoff: BACKOFF_MIN,
            down: None,
            fresh: false,
            restate: false,
            published: 0,
            sent: 0,
            unacked: HashSet::new(),
            nodes: BTreeSet::new(),
            availability: Availability::new(Instant::now(), grace),
            after_grace: false,
            sensors: BTreeMap::new(),
            known_loaded: false,
            announced_with: None,
            sw_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    fn connect(&mut self) -> Result<(), LinkDown> {
        let config = &self.config;
        let mut opts = MqttOptions::new(config.client_id.clone(), config.host.clone(), config.port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_clean_session(true);
        opts.set_inflight(100);
        opts.set_max_packet_size(1 << 20, 1 << 20);
        opts.set_last_will(LastWill::new(
            topics::server_status(&config.prefix),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        if let Some((u, p)) = &config.credentials {
            opts.set_credentials(u.clone(), p.clone());
        }
        if let Some(tls) = &config.tls {
            opts.set_transport(Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(tls.clone())));
        }
        let (client, mut connection) = Client::new(opts, BATCH * 2 + 64);
        connection.eventloop.network_options.set_connection_timeout(CONNECT_TIMEOUT);
        let (tx, rx) = channel();
        let (wake, ha_status, prefix) =
            (self.wake.clone(), topics::ha_status(&config.discovery_prefix), config.prefix.clone());
        std::thread::Builder::new()
            .name("export-mqtt-net".into())
            .spawn(move || network(&mut connection, tx, wake, ha_status, prefix))
            .map_err(|e| LinkDown(format!("cannot start the MQTT network thread: {e}")))?;
        self.link = Some(Link { client, net: rx });
        Ok(())
    }

    /// Drops the connection (a new one is made after the backoff) and says why.
    fn fail(&mut self, why: String) -> LinkDown {
        self.link = None;
        self.connected = false;
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        LinkDown(self.down.get_or_insert(why).clone())
    }

    /// Why there is no connection now.
    fn not_up(&self, otherwise: &str) -> LinkDown {
        LinkDown(self.down.clone().unwrap_or_else(|| otherwise.into()))
    }

    fn handle(&mut self, n: Net) {
        match n {
            Net::Up => {
                self.connected = true;
                self.backoff = BACKOFF_MIN;
                self.down = None;
                self.fresh = true;
                self.published = 0;
                self.sent = 0;
                self.unacked.clear();
                self.availability.connected();
            }
            Net::Down(why) => {
                self.fail(why);
            }
            Net::Sent(pkid) => {
                self.sent += 1;
                if pkid != 0 {
                    self.unacked.insert(pkid);
                }
            }
            Net::Acked(pkid) => {
                self.unacked.remove(&pkid);
            }
            Net::Held(cid, payload) => self.availability.held(&cid, &payload),
            Net::StatusOffline => self.restate = true,
            Net::HaOnline => {
                // Home Assistant (re)started and asks for the configs: published with the next look.
                for a in self.sensors.values_mut() {
                    *a = false;
                }
            }
        }
    }

    fn drain(&mut self) {
        while let Some(n) = self.link.as_ref().and_then(|l| l.net.try_recv().ok()) {
            self.handle(n);
        }
    }

    fn publish(&mut self, topic: String, payload: impl Into<Vec<u8>>, retain: bool) -> Result<(), LinkDown> {
        let Some(link) = &self.link else {
            return Err(self.not_up("not connected"));
        };
        if let Err(e) = link.client.publish(topic, QoS::AtLeastOnce, retain, payload) {
            return Err(self.fail(format!("publish: {e}")));
        }
        self.published += 1;
        Ok(())
    }

    /// Subscribes to (or with `qos` `None`, unsubscribes from) `filter`; acknowledged like a
    /// publish (the same packet ids), so [`settle`](Self::settle) waits for it too.
    fn subscription(&mut self, filter: String, qos: Option<QoS>) -> Result<(), LinkDown> {
        let Some(link) = &self.link else {
            return Err(self.not_up("not connected"));
        };
        let asked = match qos {
            Some(qos) => link.client.subscribe(filter, qos),
            None => link.client.unsubscribe(filter),
        };
        if let Err(e) = asked {
            return Err(self.fail(format!("subscribe: {e}")));
        }
        self.published += 1;
        Ok(())
    }

    /// Learns which availability each node has on the broker: the broker sends what it holds for
    /// a subscription before it acknowledges a publish sent after it, so once the server's status
    /// is acknowledged everything held has arrived. QoS 0: those messages then bypass the broker's
    /// in-flight window, which could otherwise hold them behind that acknowledgement.
    fn learn_availability(&mut self) -> Result<(), LinkDown> {
        let filter = topics::availability_filter(&self.config.prefix);
        self.subscription(filter.clone(), Some(QoS::AtMostOnce))?;
        self.subscription(topics::ha_status(&self.config.discovery_prefix), Some(QoS::AtLeastOnce))?;
        let status = topics::server_status(&self.config.prefix);
        self.subscription(status.clone(), Some(QoS::AtLeastOnce))?;
        self.publish(status, "online", true)?;
        self.settle()?;
        self.availability.learned();
        // Kept, it would bring back every availability published (MQTT 3.1.1 has no no-local).
        self.subscription(filter, None)
    }

    fn announce(&mut self, cid: &str, sensor: &str, settings: &Settings) -> Result<(), LinkDown> {
        // Any id of a `replaces` series announces the series' one entity.
        let series = settings.series_of(sensor);
        let c = discovery::SensorConfig {
            prefix: &self.config.prefix,
            cid,
            sensor: settings.current_of(sensor),
            series,
            name: settings.name(sensor),
            sw_version: &self.sw_version,
        };
        let payload = discovery::config(&c).to_string();
        self.publish(topics::discovery(&self.config.discovery_prefix, cid, series), payload, true)?;
        if series != sensor {
            // An entity of its own, announced before the config said whom it replaces, goes (an
            // empty retained config removes it in Home Assistant and from the broker).
            self.publish(topics::discovery(&self.config.discovery_prefix, cid, sensor), "", true)?;
        }
        self.sensors.insert((cid.to_owned(), sensor.to_owned()), true);
        if self.nodes.insert(cid.to_owned()) {
            self.publish_availability(cid)?;
        }
        Ok(())
    }

    /// Publishes `cid`'s availability if it differs from what the broker holds.
    fn publish_availability(&mut self, cid: &str) -> Result<(), LinkDown> {
        let Some(state) = self.availability.due(cid, Instant::now()) else { return Ok(()) };
        self.publish(topics::node_availability(&self.config.prefix, cid), state, true)?;
        self.availability.published(cid, state);
        Ok(())
    }

    /// Waits until everything handed to the client was acknowledged.
    fn settle(&mut self) -> Result<(), LinkDown> {
        self.settle_for(ACK_TIMEOUT)
    }

    fn settle_for(&mut self, timeout: Duration) -> Result<(), LinkDown> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.connected {
                return Err(self.not_up("connection lost"));
            }
            if self.sent >= self.published && self.unacked.is_empty() {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(link) = &self.link else { return Err(LinkDown("connection lost".into())) };
            match link.net.recv_timeout(left) {
                Ok(n) => self.handle(n),
                Err(RecvTimeoutError::Timeout) => {
                    let why = format!(
                        "the broker acknowledged {} of {} messages within {}s",
                        self.sent as usize - self.unacked.len(),
                        self.published,
                        timeout.as_secs()
                    );
                    return Err(self.fail(why));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.fail("the MQTT network thread ended".into()))
                }
            }
        }
    }
}

impl Far for Mqtt {
    fn batch(&self) -> usize {
        BATCH
    }

    fn linger(&self) -> Duration {
        Duration::ZERO
    }

    fn ready(&mut self, feed: &mut Feed, settings: &Arc<Settings>) -> Result<(), NotReady> {
        self.drain();
        if self.link.is_none() && Instant::now() >= self.next_attempt {
            self.connect()?;
        }
        if !self.connected {
            return Err(self.down.clone().map_or(NotReady::Connecting, NotReady::Down));
        }
        if !self.known_loaded {
            let store = feed.store();
            let nodes = store.nodes().map_err(|e| format!("reading the store: {e}"))?;
            let sensors = store.sensors().map_err(|e| format!("reading the store: {e}"))?;
            self.nodes.extend(nodes.into_iter().map(|n| n.cid.to_string()));
            for s in sensors {
                self.sensors.entry((s.cid.to_string(), s.sensor.to_string())).or_insert(false);
            }
            self.known_loaded = true;
        }
        // The settings in force are swapped whole on reload: a new Arc may carry new names.
        let renamed = self.announced_with.as_ref().is_none_or(|a| !Arc::ptr_eq(a, settings));
        if self.fresh {
            self.restate = false;
            self.learn_availability()?;
        } else if self.restate {
            self.restate = false;
            log::info!(
                "export mqtt -> {}: an earlier connection's last will said {} offline; online again",
                self.config.url,
                topics::server_status(&self.config.prefix)
            );
            self.publish(topics::server_status(&self.config.prefix), "online", true)?;
            self.settle()?;
        }
        let grace_ended = !self.after_grace && self.availability.grace_over(Instant::now());
        if self.fresh || grace_ended {
            for cid in self.nodes.clone() {
                self.publish_availability(&cid)?;
            }
            self.after_grace |= grace_ended;
        }
        if self.fresh || renamed {
            for a in self.sensors.values_mut() {
                *a = false;
            }
        }
        let due: Vec<(String, String)> =
            self.sensors.iter().filter(|(_, a)| !**a).map(|(k, _)| k.clone()).collect();
        for (cid, sensor) in &due {
            self.announce(cid, sensor, settings)?;
        }
        if self.fresh || !due.is_empty() {
            self.settle()?;
            self.fresh = false;
        }
        self.announced_with = Some(settings.clone());
        Ok(())
    }

    fn send(
        &mut self,
        rows: &[FeedRow],
        _feed: &mut Feed,
        settings: &Arc<Settings>,
    ) -> Result<(), SendError> {
        for r in rows {
            let (cid, sensor) = (r.reading.cid.as_str(), r.reading.sensor.as_str());
            if !self.sensors.get(&(cid.to_owned(), sensor.to_owned())).copied().unwrap_or(false) {
                self.announce(cid, sensor, settings)?;
            }
            let payload = topics::state_payload(&r.reading, settings);
            self.publish(topics::state(&self.config.prefix, cid, sensor), payload, true)?;
            // Acks are taken as they come, so the client's queue never fills.
            self.drain();
            if !self.connected {
                return Err(self.not_up("connection lost").into());
            }
        }
        Ok(self.settle()?)
    }

    fn node(&mut self, cid: &str, online: bool) {
        self.availability.session(cid, online);
        self.nodes.insert(cid.to_owned());
        if self.connected {
            // Lost with the connection if it drops first: a new connection learns what the broker
            // holds and publishes what differs. Before that is learned, nothing is due.
            let _ = self.publish_availability(cid);
        }
    }

    fn connected(&self) -> bool {
        self.connected && !self.fresh
    }
}

impl Drop for Mqtt {
    fn drop(&mut self) {
        if let (true, Some(link)) = (self.connected, &self.link) {
            // A clean goodbye: the broker does not send the will, so say offline ourselves, and
            // give it a moment to go out before the disconnect.
            let status = topics::server_status(&self.config.prefix);
            if link.client.try_publish(status, QoS::AtLeastOnce, true, "offline").is_ok() {
                self.published += 1;
                let _ = self.settle_for(Duration::from_secs(2));
            }
        }
        if let Some(link) = &self.link {
            let _ = link.client.try_disconnect();
        }
    }
}

/// The network thread: drives one connection and reports what matters; ends with it (the exporter
/// makes a new one) or when the client is dropped.
fn network(
    connection: &mut Connection,
    tx: Sender<Net>,
    wake: Sender<Input>,
    ha_status: String,
    prefix: String,
) {
    let status = topics::server_status(&prefix);
    loop {
        let (n, last) = match connection.recv() {
            Err(_) => return, // the client is gone
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => (Net::Up, false),
            Ok(Ok(Event::Incoming(Packet::PubAck(a)))) => (Net::Acked(a.pkid), false),
            Ok(Ok(Event::Outgoing(
                Outgoing::Publish(pkid) | Outgoing::Subscribe(pkid) | Outgoing::Unsubscribe(pkid),
            ))) => (Net::Sent(pkid), false),
            Ok(Ok(Event::Incoming(Packet::SubAck(a)))) => (Net::Acked(a.pkid), false),
            Ok(Ok(Event::Incoming(Packet::UnsubAck(a)))) => (Net::Acked(a.pkid), false),
            Ok(Ok(Event::Incoming(Packet::Publish(p))))
                if p.topic == ha_status && p.payload.as_ref() == b"online" =>
            {
                (Net::HaOnline, false)
            }
            // Not retained: a will firing now, not the value held when we subscribed (ours is
            // published right after).
            Ok(Ok(Event::Incoming(Packet::Publish(p))))
                if !p.retain && p.topic == status && p.payload.as_ref() == b"offline" =>
            {
                (Net::StatusOffline, false)
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) if p.retain => {
                match topics::availability_node(&prefix, &p.topic) {
                    Some(cid) => {
                        (Net::Held(cid.to_owned(), String::from_utf8_lossy(&p.payload).into_owned()), false)
                    }
                    None => continue,
                }
            }
            Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) => return,
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => (Net::Down(e.to_string()), true),
        };
        // The exporter reads acks itself while it waits for them; the rest wakes it.
        let wakes = !matches!(n, Net::Sent(_) | Net::Acked(_) | Net::Held(..));
        if tx.send(n).is_err() {
            return;
        }
        if wakes {
            let _ = wake.send(Input::Net);
        }
        if last {
            return;
        }
    }
}
