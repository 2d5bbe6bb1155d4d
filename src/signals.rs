//! Stopping on SIGINT and SIGTERM without a window in which either one
//! still takes its default action: install the handlers first, then listen.

/// SIGINT and SIGTERM, registered when made; one that arrives before
/// [`Signals::wait`] is kept and ends the wait at once. Waiting again waits
/// for the next one (the second signal that cuts a shutdown short).
#[cfg(unix)]
pub struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        // A write past the file size limit (RLIMIT_FSIZE, `ulimit -f`)
        // raises SIGXFSZ, whose default kills the process; handled, the
        // write fails with EFBIG instead, which the store and recordings
        // report as the error it is, and the daemon goes on.
        let xfsz = rustix::process::Signal::XFSZ.as_raw();
        let mut file_size = signal(SignalKind::from_raw(xfsz))?;
        tokio::spawn(async move {
            while file_size.recv().await.is_some() {
                tracing::error!(
                    "a file write went past the process's file size limit (RLIMIT_FSIZE, \
                     ulimit -f) and failed"
                );
            }
        });
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    pub async fn wait(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {},
            _ = self.terminate.recv() => {},
        }
    }
}

#[cfg(not(unix))]
pub struct Signals;

#[cfg(not(unix))]
impl Signals {
    pub fn install() -> std::io::Result<Self> {
        Ok(Self)
    }

    pub async fn wait(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
