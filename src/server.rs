//! The [`Server`]: binds the listeners a [`DaemonConfig`] asks for, wires
//! them to the router, serves the HTTP API, and shuts everything down
//! cleanly. Tests start one in-process on port 0.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use config::DaemonConfig;
use ingest::http::HttpIngest;
use ingest::stats::IngestStats;
use ingest::tcp::TcpIngest;
use ingest::udp::UdpIngest;
use ingest::write::LineSettings;
use pipeline::{DbRp, PointSink, Router};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api;
use crate::effects::endpoints::HttpEndpoints;
use crate::effects::topics::{TopicSettings, Topics};
use crate::replay::recordings::Recordings;
use crate::replay::replays::Replays;
use crate::subscriptions::Subscriptions;
use crate::tasks::TaskManager;
use crate::tasks::dir::TaskDirSync;
use crate::tasks::handlers_dir::HandlersDirSync;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Store(#[from] storage::StoreError),
    #[error("{0}")]
    TaskDir(String),
    #[error("recordings: {0}")]
    Recordings(String),
    #[error("cannot restore the stored tasks: {0}")]
    Restore(#[from] crate::tasks::TaskError),
    #[error("cannot bind the {listener} listener to {addr}: {source}")]
    Bind {
        listener: &'static str,
        addr: SocketAddr,
        source: io::Error,
    },
    #[error("invalid configuration: {key}: {message}")]
    Config { key: &'static str, message: String },
}

/// What the HTTP API and the listeners share.
pub struct ServerState {
    pub config: DaemonConfig,
    pub stats: Arc<IngestStats>,
    pub router: Arc<Router>,
    pub tasks: Arc<TaskManager>,
    /// Alert topics and their handlers.
    pub topics: Arc<Topics>,
    pub recordings: Arc<Recordings>,
    pub replays: Arc<Replays>,
    /// The store, for its backups.
    pub store: Arc<storage::Store>,
    pub started: SystemTime,
    pub started_at: Instant,
    pub addrs: BoundAddrs,
    pub auth: Arc<crate::api::Auth>,
    pub host_check: Arc<crate::api::HostCheck>,
    /// What happened to the HTTP listener's connections.
    pub http_connections: Arc<crate::serve::ConnCounters>,
    /// Made once per data dir and kept: names the InfluxDB subscriptions.
    pub cluster_id: String,
    pub subscriptions: Arc<Subscriptions>,
}

/// The addresses the listeners actually bound (port 0 resolved).
#[derive(Clone, Copy, Debug, Default)]
pub struct BoundAddrs {
    pub http: Option<SocketAddr>,
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
}

/// A running kapacitord.
pub struct Server {
    state: Arc<ServerState>,
    task_dir: TaskDirSync,
    handlers_dir: HandlersDirSync,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Server {
    /// Binds every enabled listener and starts serving. Binding happens
    /// before this returns, so a port in use is an error here, not later.
    pub async fn start(config: DaemonConfig) -> Result<Server, ServerError> {
        let stats = IngestStats::new();
        stats.set_max_dbrps(config.ingest.max_dbrps);
        let router = Arc::new(Router::new());
        // Tasks first, so no point arrives before the tasks that want it.
        let data_dir = config.data_dir.clone();
        // The store, and the cluster id kept in it.
        let (store, cluster_id) = tokio::task::spawn_blocking(move || {
            let store = storage::Store::open(&data_dir)?;
            let id = store.server_id(
                crate::subscriptions::CLUSTER_ID_KEY,
                crate::subscriptions::new_cluster_id,
            )?;
            Ok::<_, storage::StoreError>((store, id))
        })
        .await
        .map_err(|e| {
            ServerError::Store(storage::StoreError::Io {
                path: config.data_dir.clone(),
                source: std::io::Error::other(e.to_string()),
            })
        })??;
        let store = Arc::new(store);
        let topics = Topics::with_store(
            TopicSettings {
                max_events: config.topics.max_events,
                history: config.topics.history,
                handler_queue: config.topics.handler_queue,
                persist: config.topics.persist,
                limits: config.limits,
                endpoints: HttpEndpoints::from_config(&config.httppost),
            },
            store.clone(),
        );
        let restoring = topics.clone();
        let (events, handlers) = tokio::task::spawn_blocking(move || restoring.restore())
            .await
            .unwrap_or(Ok((0, 0)))?;
        if events + handlers > 0 {
            tracing::info!(events, handlers, "restored alert topics");
        }
        let tasks = Arc::new(
            TaskManager::with_store(router.clone(), store.clone())
                .with_topics(topics.clone())
                .with_limit_breaches(stats.breaches.clone())
                .with_workers(config.pipeline.workers, config.pipeline.inbox_points)
                .with_restart_attempts(config.pipeline.restart_attempts)
                .with_sideload_limits(&config.sideload)
                .with_group_idle_timeout(config.pipeline.group_idle_timeout)
                .with_alert_state_idle_timeout(config.pipeline.alert_state_idle_timeout)
                .with_limits(&config.limits)
                .with_influxdb(&config.influxdb)
                .with_http_endpoints(&config.httppost)
                .with_deadman(config.deadman.clone()),
        );
        crate::tasks::supervise(&tasks);
        let restoring = tasks.clone();
        let restored =
            tokio::task::spawn_blocking(move || restoring.loading_many(|| restoring.restore()))
                .await
                .unwrap_or(Ok(0))?;
        if restored > 0 {
            tracing::info!(tasks = restored, "restored enabled tasks");
        }
        let (data_dir, limits, routing, breaches) = (
            config.data_dir.clone(),
            config.replay.clone(),
            router.clone(),
            stats.breaches.clone(),
        );
        let stored = store.clone();
        let influxdb = config.influxdb.clone();
        let recordings = tokio::task::spawn_blocking(move || {
            Recordings::open(&data_dir, stored, routing, limits)
                .map(|r| r.with_influxdb(&influxdb).with_limit_breaches(breaches))
        })
        .await
        .map_err(|e| ServerError::Recordings(e.to_string()))?
        .map_err(|e| ServerError::Recordings(e.to_string()))?;
        let recordings = Arc::new(recordings);
        let replays = Arc::new(Replays::new(tasks.clone(), recordings.clone()));
        let dir = config.tasks_dir.clone();
        let syncing = tasks.clone();
        let task_dir = tokio::task::spawn_blocking(move || TaskDirSync::start(&dir, syncing))
            .await
            .map_err(|e| ServerError::TaskDir(e.to_string()))?
            .map_err(ServerError::TaskDir)?;
        let (dir, syncing) = (config.tasks_dir.clone(), topics.clone());
        let handlers_dir =
            tokio::task::spawn_blocking(move || HandlersDirSync::start(&dir, syncing))
                .await
                .map_err(|e| ServerError::TaskDir(e.to_string()))?
                .map_err(ServerError::TaskDir)?;
        let sink: Arc<dyn PointSink> = router.clone();
        let settings = LineSettings {
            accept_unsigned: config.ingest.accept_unsigned,
            backpressure_timeout: config.ingest.backpressure_timeout,
            limits: ingest::lp::LineLimits {
                max_line_length: config.ingest.max_line_length,
                max_fields: config.ingest.max_fields,
                max_tags: config.ingest.max_tags,
                max_errors: config.ingest.max_parse_errors,
                max_future_ns: i64::try_from(config.ingest.max_future.as_nanos())
                    .unwrap_or(i64::MAX),
            },
        };
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut addrs = BoundAddrs::default();

        // TLS material first: a bad path is a config error before any
        // listener is bound.
        let tls = match (&config.http.tls, config.http.enabled) {
            (Some(tls), true) => Some(
                crate::serve::tls_acceptor(tls)
                    .map_err(|(key, message)| ServerError::Config { key, message })?,
            ),
            _ => None,
        };
        let http = if config.http.enabled {
            let listener = bind_tcp("http", config.http.bind)?;
            addrs.http = listener.local_addr().ok();
            Some(listener)
        } else {
            None
        };
        if config.udp.enabled {
            let socket = bind_udp(&config.udp)?;
            addrs.udp = socket.local_addr().ok();
            let udp = UdpIngest {
                socket,
                dbrp: DbRp::new(
                    config.udp.database.as_str(),
                    config.udp.retention_policy.as_str(),
                ),
                sink: sink.clone(),
                stats: stats.clone(),
                settings,
            };
            let token = shutdown.clone();
            tracker.spawn(async move {
                if let Err(e) = udp.run(token).await {
                    tracing::error!(listener = "udp", "UDP listener stopped: {e}");
                }
            });
        }
        if config.tcp.enabled {
            let listener = bind_tcp("tcp", config.tcp.bind)?;
            addrs.tcp = listener.local_addr().ok();
            let tcp = TcpIngest {
                listener,
                dbrp: DbRp::new(
                    config.tcp.database.as_str(),
                    config.tcp.retention_policy.as_str(),
                ),
                sink: sink.clone(),
                stats: stats.clone(),
                settings,
                max_line_length: config
                    .tcp
                    .max_line_length
                    .min(config.ingest.max_line_length),
                max_inflated_size: config.ingest.max_inflated_size,
                max_connections: config.tcp.max_connections,
                idle_timeout: config.tcp.idle_timeout,
            };
            let (token, connections) = (shutdown.clone(), tracker.clone());
            tracker.spawn(async move {
                if let Err(e) = tcp.run(token, connections).await {
                    tracing::error!(listener = "tcp", "TCP listener stopped: {e}");
                }
            });
        }

        let ingest = Arc::new(HttpIngest {
            sink,
            stats: stats.clone(),
            max_body_size: config.http.max_body_size,
            max_inflated_size: config.ingest.max_inflated_size,
            settings,
            default_retention_policy: config.ingest.default_retention_policy.clone(),
        });
        // Subscriptions last: they tell InfluxDB the addresses just bound.
        let subscriptions = Arc::new(Subscriptions::start(
            &config.influxdb,
            crate::subscriptions::Env {
                cluster_id: cluster_id.clone(),
                http: addrs.http,
                https: tls.is_some(),
                auth: config.auth.enabled,
                udp_ip: config.udp.bind.ip(),
                udp_read_buffer: config.udp.read_buffer,
                sink: ingest.sink.clone(),
                stats: stats.clone(),
                settings,
                listeners: tokio::runtime::Handle::current(),
                tracker: tracker.clone(),
            },
        ));
        let state = Arc::new(ServerState {
            auth: Arc::new(crate::api::Auth::from_config(&config.auth)),
            host_check: Arc::new(crate::api::HostCheck::from_config(&config)),
            config,
            stats,
            router,
            tasks,
            topics,
            recordings,
            store,
            replays,
            started: SystemTime::now(),
            started_at: Instant::now(),
            addrs,
            http_connections: Arc::default(),
            cluster_id,
            subscriptions,
        });
        if let Some(listener) = http {
            let server = crate::serve::HttpServer {
                listener,
                app: api::app(state.clone(), ingest),
                limits: crate::serve::Limits::from_config(&state.config.http),
                tls,
                counters: state.http_connections.clone(),
                listener_counters: state.stats.http.clone(),
            };
            if server.tls.is_some() {
                tracing::info!(listener = "http", "serving HTTPS only");
            }
            let (token, connections) = (shutdown.clone(), tracker.clone());
            tracker.spawn(server.run(token, connections));
        }
        let idle = state.config.ingest.dbrp_idle_timeout;
        if !idle.is_zero() {
            // Forgotten between one and one and a half timeouts.
            let every = (idle / 2).clamp(
                std::time::Duration::from_millis(100),
                std::time::Duration::from_secs(60),
            );
            let (token, stats) = (shutdown.clone(), state.stats.clone());
            tracker.spawn(async move {
                let mut ticks = tokio::time::interval(every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        () = token.cancelled() => return,
                        _ = ticks.tick() => {}
                    }
                    let n = stats.expire_idle(idle);
                    if n > 0 {
                        tracing::debug!(
                            "{n} idle database/retention policies left the ingest counters"
                        );
                    }
                }
            });
        }
        for (name, addr) in [("http", addrs.http), ("udp", addrs.udp), ("tcp", addrs.tcp)] {
            if let Some(addr) = addr {
                tracing::info!(listener = name, %addr, "listening");
            }
        }
        Ok(Server {
            state,
            task_dir,
            handlers_dir,
            shutdown,
            tracker,
        })
    }

    pub fn addrs(&self) -> BoundAddrs {
        self.state.addrs
    }

    /// The URL of the HTTP API, if HTTP is enabled.
    pub fn http_url(&self) -> Option<String> {
        let scheme = if self.state.config.http.tls.is_some() {
            "https"
        } else {
            "http"
        };
        self.state.addrs.http.map(|a| format!("{scheme}://{a}"))
    }

    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// Stops accepting, lets in-flight requests and connections finish, and
    /// waits for every listener to end.
    pub async fn shutdown(mut self) {
        let mut task_dir = std::mem::replace(&mut self.task_dir, TaskDirSync::stopped());
        let _ = tokio::task::spawn_blocking(move || task_dir.stop()).await;
        self.state.subscriptions.stop();
        let mut handlers_dir =
            std::mem::replace(&mut self.handlers_dir, HandlersDirSync::stopped());
        let _ = tokio::task::spawn_blocking(move || handlers_dir.stop()).await;
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        // Listeners are gone, so no more points arrive: close the live
        // recordings, and let tasks drain.
        let recordings = self.state.recordings.clone();
        let _ = tokio::task::spawn_blocking(move || recordings.stop_all()).await;
        let tasks = self.state.tasks.clone();
        let _ = tokio::task::spawn_blocking(move || tasks.stop_all()).await;
        // No task publishes any more: let topic handlers finish, and save
        // the topics' last events.
        let topics = self.state.topics.clone();
        let _ = tokio::task::spawn_blocking(move || {
            topics.close(Instant::now() + TOPICS_STOP_WAIT);
        })
        .await;
    }

    /// The task manager, to define and enable tasks.
    pub fn tasks(&self) -> &Arc<TaskManager> {
        &self.state.tasks
    }
}

/// How long topic handlers may go on delivering at a shutdown before what
/// they hold is abandoned (counted as dropped).
const TOPICS_STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Pending connections a listener queues before the kernel drops new SYNs
/// (capped by `net.core.somaxconn`). tokio's `bind` asks for 128, which a
/// burst of clients overflows, each overflow costing a client a one-second
/// SYN retransmit.
const LISTEN_BACKLOG: i32 = 4096;

fn bind_tcp(
    listener: &'static str,
    addr: SocketAddr,
) -> Result<tokio::net::TcpListener, ServerError> {
    let bind_err = |source| ServerError::Bind {
        listener,
        addr,
        source,
    };
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))
        .map_err(bind_err)?;
    // As std and tokio do: a restarted daemon rebinds despite TIME_WAIT.
    socket.set_reuse_address(true).map_err(bind_err)?;
    socket.set_nonblocking(true).map_err(bind_err)?;
    socket.bind(&addr.into()).map_err(bind_err)?;
    socket.listen(LISTEN_BACKLOG).map_err(bind_err)?;
    tokio::net::TcpListener::from_std(socket.into()).map_err(bind_err)
}

fn bind_udp(cfg: &config::UdpConfig) -> Result<tokio::net::UdpSocket, ServerError> {
    let bind_err = |source| ServerError::Bind {
        listener: "udp",
        addr: cfg.bind,
        source,
    };
    let socket = udp_socket(cfg.bind, cfg.read_buffer).map_err(bind_err)?;
    tokio::net::UdpSocket::from_std(socket).map_err(bind_err)
}

/// A non-blocking UDP socket bound to `addr`, with `SO_RCVBUF` of
/// `read_buffer` bytes (0: the OS default): the UDP listener's, and each
/// UDP subscription's.
pub(crate) fn udp_socket(addr: SocketAddr, read_buffer: usize) -> io::Result<std::net::UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if read_buffer > 0 {
        socket.set_recv_buffer_size(read_buffer)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}
