//! InfluxDB 1.x subscriptions, managed as Kapacitor manages them: for each
//! `influxdb` server without `disable_subscriptions`, a small future on the
//! effects runtime lists the server's databases and retention policies and
//! its subscriptions, then creates `kapacitor-<cluster id>` on every
//! wanted database/retention policy (`subscriptions` minus
//! `excluded_subscriptions`), sending to this daemon's `/write` (or, with
//! `subscription_protocol: udp`, to a UDP socket of its own per
//! database/retention policy, since a datagram does not say where it
//! belongs), and drops its own subscriptions that are no longer wanted or
//! send elsewhere. Subscriptions of any other name are never touched. It
//! does so at start and every `subscriptions_sync_interval`; a failure
//! (InfluxDB down, refused credentials) is logged, shown in the status and
//! tried again sooner, and never holds up ingest or tasks.
//!
//! The cluster id is made once and kept in the store, so a restart finds
//! its subscriptions and makes no second one.

pub mod plan;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use config::{InfluxDbConfig, SubscriptionProtocol};
use ingest::stats::IngestStats;
use ingest::udp::UdpIngest;
use ingest::write::LineSettings;
use pipeline::{DbRp, PointSink};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::batch::client::QueryClient;
use crate::batch::query::quote_ident;
use plan::{Change, Filter, Target};

/// The store key of the cluster id.
pub const CLUSTER_ID_KEY: &str = "cluster_id";

/// The first retry after a failed sync; each further failure doubles it,
/// up to the sync interval.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// A new random (version 4) UUID: the cluster id of a new data dir.
pub fn new_cluster_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: the time and pid still make it unlikely that
        // two daemons pick the same id.
        let t = host::wall_clock_ns().to_le_bytes();
        b[..8].copy_from_slice(&t);
        b[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The name of this daemon's subscriptions.
pub fn subscription_name(cluster_id: &str) -> String {
    format!("kapacitor-{cluster_id}")
}

/// What the sync loops need of the server.
pub struct Env {
    pub cluster_id: String,
    /// The bound HTTP listener; `None` when it is off.
    pub http: Option<SocketAddr>,
    /// Whether it serves HTTPS only.
    pub https: bool,
    /// Whether `auth.enabled`: InfluxDB's pushes carry no credentials.
    pub auth: bool,
    /// Where UDP subscriptions' sockets bind: `udp.bind`'s address.
    pub udp_ip: IpAddr,
    pub udp_read_buffer: usize,
    /// Where UDP subscriptions' points go, counted under the udp listener.
    pub sink: Arc<dyn PointSink>,
    pub stats: Arc<IngestStats>,
    pub settings: LineSettings,
    /// The runtime the listeners run on (UDP sockets run there, not on
    /// the effects runtime), and the tracker a shutdown waits for.
    pub listeners: tokio::runtime::Handle,
    pub tracker: TaskTracker,
}

/// One server's subscriptions, as the status shows them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ConnectionStatus {
    /// The `influxdb` server's name.
    pub cluster: String,
    /// False with `disable_subscriptions`.
    pub enabled: bool,
    pub protocol: String,
    /// Where the server is told to send: the URL, or `udp://HOST` (each
    /// database/retention policy has a port of its own).
    pub destination: String,
    /// Syncs tried, and how many failed.
    pub syncs: u64,
    pub failed_syncs: u64,
    /// When the last sync ended, and the last that succeeded.
    pub last_sync: Option<String>,
    pub last_success: Option<String>,
    pub next_sync: Option<String>,
    /// The last sync's error; empty when it succeeded.
    pub error: String,
    /// `"db"."rp"` of each subscription of ours the last sync left.
    pub subscribed: Vec<String>,
    /// Subscriptions created and dropped since the start.
    pub created: u64,
    pub dropped: u64,
}

/// Every server's subscriptions; the sync loops stop when this is dropped
/// or [`stop`](Self::stop)ped.
#[derive(Debug)]
pub struct Subscriptions {
    cluster_id: String,
    connections: Vec<Arc<Mutex<ConnectionStatus>>>,
    stop: CancellationToken,
}

/// [`Subscriptions`] as `/kapacitor/v1/status` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct SubscriptionsStatus {
    pub cluster_id: String,
    pub name: String,
    pub connections: Vec<ConnectionStatus>,
}

impl Subscriptions {
    /// Starts a sync loop for each server of `servers` that manages
    /// subscriptions.
    pub fn start(servers: &[InfluxDbConfig], env: Env) -> Subscriptions {
        let stop = CancellationToken::new();
        let env = Arc::new(env);
        let mut connections = Vec::new();
        for server in servers {
            let status = Arc::new(Mutex::new(ConnectionStatus {
                cluster: server.name.clone(),
                enabled: !server.disable_subscriptions,
                protocol: server.subscription_protocol.to_string(),
                ..ConnectionStatus::default()
            }));
            connections.push(status.clone());
            if server.disable_subscriptions {
                continue;
            }
            if env.auth && server.subscription_protocol != SubscriptionProtocol::Udp {
                tracing::warn!(
                    cluster = server.name,
                    "auth.enabled: InfluxDB sends its subscription writes without credentials, so they will be refused; use subscription_protocol udp, or disable_subscriptions"
                );
            }
            let sync = Sync {
                name: subscription_name(&env.cluster_id),
                client: QueryClient::new(server.clone()),
                server: server.clone(),
                filter: Filter::from_config(server),
                env: env.clone(),
                status,
                udp: HashMap::new(),
                last_error: String::new(),
                stop: stop.clone(),
            };
            crate::effects::runtime().spawn(sync.run());
        }
        Subscriptions {
            cluster_id: env.cluster_id.clone(),
            connections,
            stop,
        }
    }

    pub fn status(&self) -> SubscriptionsStatus {
        SubscriptionsStatus {
            cluster_id: self.cluster_id.clone(),
            name: subscription_name(&self.cluster_id),
            connections: self.connections.iter().map(|c| lock(c).clone()).collect(),
        }
    }

    /// Stops syncing (the subscriptions stay, as Kapacitor leaves them)
    /// and closes the UDP sockets of UDP subscriptions.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn lock(s: &Mutex<ConnectionStatus>) -> std::sync::MutexGuard<'_, ConnectionStatus> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> String {
    pipeline::time::format_rfc3339(host::wall_clock_ns())
}

/// A host for a URL: an IPv6 address in brackets; an unspecified address
/// (`0.0.0.0`) cannot be sent to, so `localhost`, as Kapacitor's default
/// `hostname`.
fn url_host(ip: IpAddr) -> String {
    match ip {
        ip if ip.is_unspecified() => "localhost".into(),
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Where `server` is told to send: the whole URL for HTTP(S); for UDP,
/// `udp://HOST`, to which each database/retention policy adds its port.
/// `http` is the bound HTTP listener (`None`: off), `https` whether it
/// serves TLS, `udp_ip` where UDP subscriptions' sockets bind.
fn destination_base(
    server: &InfluxDbConfig,
    http: Option<SocketAddr>,
    https: bool,
    udp_ip: IpAddr,
) -> Result<String, String> {
    let host = |ip: IpAddr| {
        if server.kapacitor_hostname.is_empty() {
            url_host(ip)
        } else {
            server.kapacitor_hostname.clone()
        }
    };
    let protocol = server.subscription_protocol;
    if protocol == SubscriptionProtocol::Udp {
        return Ok(format!("udp://{}", host(udp_ip)));
    }
    let Some(http) = http else {
        return Err(format!(
            "subscription_protocol {protocol} needs the HTTP listener, and http.enabled is false"
        ));
    };
    // Told its own port, InfluxDB must speak what the listener speaks;
    // another (a proxy's) is the user's to get right.
    if server.http_port == 0 {
        if protocol == SubscriptionProtocol::Http && https {
            return Err("subscription_protocol is http, but kapacitord serves HTTPS only (http.tls): use https".into());
        }
        if protocol == SubscriptionProtocol::Https && !https {
            return Err("subscription_protocol is https, but kapacitord serves plain HTTP (no http.tls): use http".into());
        }
    }
    let port = match server.http_port {
        0 => http.port(),
        p => p,
    };
    Ok(format!("{protocol}://{}:{port}", host(http.ip())))
}

/// A UDP socket receiving one database/retention policy's subscription.
struct UdpTarget {
    port: u16,
    stop: CancellationToken,
}

/// One server's sync loop and what it holds between syncs.
struct Sync {
    /// `kapacitor-<cluster id>`.
    name: String,
    client: QueryClient,
    server: InfluxDbConfig,
    filter: Filter,
    env: Arc<Env>,
    status: Arc<Mutex<ConnectionStatus>>,
    udp: HashMap<Target, UdpTarget>,
    last_error: String,
    stop: CancellationToken,
}

impl Sync {
    async fn run(mut self) {
        let interval = self.server.subscriptions_sync_interval;
        let mut retry = FIRST_RETRY;
        let stop = self.stop.clone();
        loop {
            let result = tokio::select! {
                () = stop.cancelled() => break,
                r = self.sync() => r,
            };
            let wait = match result {
                Ok(()) => {
                    retry = FIRST_RETRY;
                    interval
                }
                Err(_) => {
                    let wait = retry.min(interval);
                    retry = (retry * 2).min(interval);
                    wait
                }
            };
            let next = host::wall_clock_ns()
                .saturating_add(i64::try_from(wait.as_nanos()).unwrap_or(i64::MAX));
            lock(&self.status).next_sync = Some(pipeline::time::format_rfc3339(next));
            tokio::select! {
                () = self.stop.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        for (_, udp) in self.udp.drain() {
            udp.stop.cancel();
        }
        lock(&self.status).next_sync = None;
    }

    /// One sync, its outcome recorded in the status and the log.
    async fn sync(&mut self) -> Result<(), String> {
        let result = self.reconcile().await;
        let mut s = lock(&self.status);
        s.syncs += 1;
        s.last_sync = Some(now());
        match &result {
            Ok(subscribed) => {
                s.last_success = s.last_sync.clone();
                s.error.clear();
                s.subscribed = subscribed.iter().map(Target::to_string).collect();
                if !self.last_error.is_empty() {
                    tracing::info!(
                        cluster = self.server.name,
                        "subscriptions in sync again ({} of ours)",
                        subscribed.len()
                    );
                }
                self.last_error.clear();
            }
            Err(e) => {
                s.failed_syncs += 1;
                s.error = e.clone();
                // The same failure again (InfluxDB still down) is not news.
                if *e == self.last_error {
                    tracing::debug!(cluster = self.server.name, "subscription sync failed: {e}");
                } else {
                    tracing::warn!(cluster = self.server.name, "subscription sync failed: {e}");
                }
                self.last_error = e.clone();
            }
        }
        result.map(|_| ())
    }

    /// Brings the server's subscriptions in line; returns the targets that
    /// have one of ours.
    async fn reconcile(&mut self) -> Result<Vec<Target>, String> {
        let env = &self.env;
        let base = destination_base(&self.server, env.http, env.https, env.udp_ip)?;
        lock(&self.status).destination = base.clone();
        let present = self.targets().await?;
        let existing = plan::existing(&self.client.execute("SHOW SUBSCRIPTIONS").await?);
        let wanted: Vec<&Target> = present.iter().filter(|t| self.filter.wants(t)).collect();
        if self.server.subscription_protocol == SubscriptionProtocol::Udp {
            self.open_udp(&wanted, &existing, &base)?;
        }
        let destinations: HashMap<&Target, String> = wanted
            .iter()
            .map(|t| {
                let d = match self.udp.get(*t) {
                    Some(u) => format!("{base}:{}", u.port),
                    None => base.clone(),
                };
                (*t, d)
            })
            .collect();
        let changes = plan::plan(&self.name, &present, &existing, &self.filter, |t| {
            destinations.get(t).cloned().unwrap_or_default()
        });
        let mut failed = Vec::new();
        let mut subscribed: Vec<Target> = wanted.iter().map(|t| (*t).clone()).collect();
        for change in &changes {
            let statement = change.statement(&self.name);
            match self.client.execute(&statement).await {
                Ok(_) => {
                    let mut s = lock(&self.status);
                    match change {
                        Change::Create {
                            target,
                            destination,
                        } => {
                            s.created += 1;
                            tracing::info!(
                                cluster = self.server.name,
                                "subscribed: {} on {target} sends to {destination}",
                                self.name
                            );
                        }
                        Change::Drop { target, reason } => {
                            s.dropped += 1;
                            tracing::info!(
                                cluster = self.server.name,
                                "dropped subscription {} on {target}: {reason}",
                                self.name
                            );
                        }
                    }
                }
                Err(e) => {
                    if let Change::Create { target, .. } = change {
                        subscribed.retain(|t| t != target);
                    }
                    failed.push(format!("{statement}: {e}"));
                }
            }
        }
        // Sockets of targets no longer wanted (or gone from the server).
        self.udp.retain(|t, u| {
            let keep = wanted.contains(&t);
            if !keep {
                u.stop.cancel();
            }
            keep
        });
        if failed.is_empty() {
            Ok(subscribed)
        } else {
            Err(failed.join("; "))
        }
    }

    /// Every database/retention policy of the server that may be wanted.
    async fn targets(&self) -> Result<Vec<Target>, String> {
        let databases = plan::names(&self.client.execute("SHOW DATABASES").await?);
        let mut out = Vec::new();
        for db in databases.iter().filter(|db| self.filter.may_want_db(db)) {
            let q = format!("SHOW RETENTION POLICIES ON {}", quote_ident(db));
            match self.client.execute(&q).await {
                Ok(series) => out.extend(
                    plan::names(&series)
                        .into_iter()
                        .map(|rp| Target { db: db.clone(), rp }),
                ),
                // Dropped since it was listed.
                Err(e) if e.contains("database not found") => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// A UDP socket for each wanted target that has none. A subscription
    /// of ours already sending to a port of this host gets that port again
    /// when it is free (a restart), so it need not be made anew.
    fn open_udp(
        &mut self,
        wanted: &[&Target],
        existing: &[plan::Existing],
        base: &str,
    ) -> Result<(), String> {
        for t in wanted {
            if self.udp.contains_key(*t) {
                continue;
            }
            let before = existing
                .iter()
                .filter(|e| e.name == self.name && e.target == **t)
                .flat_map(|e| &e.destinations)
                .find_map(|d| d.strip_prefix(base)?.strip_prefix(':')?.parse::<u16>().ok());
            let socket = before
                .and_then(|port| self.bind_udp(port).ok())
                .map_or_else(|| self.bind_udp(0), Ok)
                .map_err(|e| format!("cannot open a UDP socket for {t}: {e}"))?;
            let port = socket.local_addr().map_err(|e| e.to_string())?.port();
            let stop = self.stop.child_token();
            let ingest = (
                socket,
                DbRp::new(t.db.as_str(), t.rp.as_str()),
                self.env.sink.clone(),
                self.env.stats.clone(),
                self.env.settings,
            );
            let (token, name) = (stop.clone(), t.to_string());
            self.env.tracker.spawn_on(
                async move {
                    let (socket, dbrp, sink, stats, settings) = ingest;
                    let socket = match tokio::net::UdpSocket::from_std(socket) {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::error!(
                                listener = "udp",
                                "subscription socket for {name}: {e}"
                            );
                            return;
                        }
                    };
                    let udp = UdpIngest {
                        socket,
                        dbrp,
                        sink,
                        stats,
                        settings,
                    };
                    if let Err(e) = udp.run(token).await {
                        tracing::error!(
                            listener = "udp",
                            "subscription socket for {name} stopped: {e}"
                        );
                    }
                },
                &self.env.listeners,
            );
            self.udp.insert((*t).clone(), UdpTarget { port, stop });
        }
        Ok(())
    }

    fn bind_udp(&self, port: u16) -> std::io::Result<std::net::UdpSocket> {
        crate::server::udp_socket(
            SocketAddr::new(self.env.udp_ip, port),
            self.env.udp_read_buffer,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_version_4_uuids_and_differ() {
        let a = new_cluster_id();
        let b = new_cluster_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{a}");
        assert!("89ab".contains(&parts[3][..1]), "{a}");
        assert_eq!(subscription_name(&a), format!("kapacitor-{a}"));
    }

    #[test]
    fn the_destination_comes_from_the_bind_unless_the_config_says_otherwise() {
        let http: SocketAddr = "0.0.0.0:9092".parse().unwrap();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let mut s = InfluxDbConfig::default();
        let base = |s: &InfluxDbConfig, https| destination_base(s, Some(http), https, lo);
        assert_eq!(base(&s, false).unwrap(), "http://localhost:9092");
        assert!(base(&s, true).unwrap_err().contains("use https"));
        s.subscription_protocol = SubscriptionProtocol::Https;
        assert_eq!(base(&s, true).unwrap(), "https://localhost:9092");
        assert!(base(&s, false).unwrap_err().contains("use http"));
        s.kapacitor_hostname = "kapacitor.example.com".into();
        s.http_port = 443;
        assert_eq!(
            base(&s, false).unwrap(),
            "https://kapacitor.example.com:443"
        );
        s.subscription_protocol = SubscriptionProtocol::Udp;
        assert_eq!(base(&s, false).unwrap(), "udp://kapacitor.example.com");
        s.kapacitor_hostname.clear();
        assert_eq!(base(&s, false).unwrap(), "udp://127.0.0.1");
        s.subscription_protocol = SubscriptionProtocol::Http;
        assert!(
            destination_base(&s, None, false, lo)
                .unwrap_err()
                .contains("http.enabled is false")
        );
    }

    #[test]
    fn unspecified_and_v6_addresses_make_usable_hosts() {
        assert_eq!(url_host("0.0.0.0".parse().unwrap()), "localhost");
        assert_eq!(url_host("::".parse().unwrap()), "localhost");
        assert_eq!(url_host("::1".parse().unwrap()), "[::1]");
        assert_eq!(url_host("10.1.2.3".parse().unwrap()), "10.1.2.3");
    }
}
