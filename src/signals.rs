//! The process's signals: each one an operator, a supervisor or a terminal may send has a
//! deliberate handling, installed as `serve` starts, whatever the flags.
//!
//! | Signal | Handling |
//! |---|---|
//! | SIGTERM, SIGINT | graceful shutdown: stop accepting, let requests finish, exit 0 |
//! | SIGQUIT | the same (nginx's graceful stop; its default would kill at once and dump core) |
//! | SIGHUP | reload what is reloadable (the trusted documents, when configured); never exits |
//! | SIGPWR, SIGXCPU | the same: power is failing, or the soft CPU-time limit is reached |
//! | SIGUSR1, SIGUSR2, SIGALRM, SIGIO, SIGVTALRM, SIGPROF, SIGXFSZ, SIGSTKFLT, real-time signals | no meaning here: logged and ignored (each kills by default; past the file-size limit a write fails instead) |
//! | SIGPIPE | ignored by Rust's runtime before `main`: a write to a closed socket is an error |
//!
//! Left to their defaults on purpose: faults (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS,
//! SIGTRAP), which mean the process can't go on; job control (SIGTSTP, SIGTTIN, SIGTTOU,
//! SIGCONT); signals ignored by default (SIGCHLD, SIGWINCH, SIGURG); and SIGKILL and SIGSTOP,
//! which can't be caught. A second stop signal during the drain is logged;
//! `--shutdown-timeout` bounds the drain.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::tasks::AbortOnDrop;

/// What a signal makes the gateway do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Stop,
    Reload,
    Ignore,
}

/// Every signal handled, by its number, its name and what it makes the gateway do.
#[cfg(unix)]
fn handled() -> Vec<(i32, String, Action)> {
    let mut handled: Vec<(i32, String, Action)> = [
        (libc::SIGTERM, "SIGTERM", Action::Stop),
        (libc::SIGINT, "SIGINT", Action::Stop),
        (libc::SIGQUIT, "SIGQUIT", Action::Stop),
        (libc::SIGXCPU, "SIGXCPU", Action::Stop),
        (libc::SIGHUP, "SIGHUP", Action::Reload),
        (libc::SIGUSR1, "SIGUSR1", Action::Ignore),
        (libc::SIGUSR2, "SIGUSR2", Action::Ignore),
        (libc::SIGALRM, "SIGALRM", Action::Ignore),
        (libc::SIGIO, "SIGIO", Action::Ignore),
        (libc::SIGVTALRM, "SIGVTALRM", Action::Ignore),
        (libc::SIGPROF, "SIGPROF", Action::Ignore),
        (libc::SIGXFSZ, "SIGXFSZ", Action::Ignore),
    ]
    .into_iter()
    .map(|(number, name, action)| (number, name.to_owned(), action))
    .collect();
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        handled.push((libc::SIGPWR, "SIGPWR".to_owned(), Action::Stop));
        handled.push((libc::SIGSTKFLT, "SIGSTKFLT".to_owned(), Action::Ignore));
        for number in libc::SIGRTMIN()..=libc::SIGRTMAX() {
            let name = format!("SIGRTMIN+{}", number - libc::SIGRTMIN());
            handled.push((number, name, Action::Ignore));
        }
    }
    handled
}

/// The gateway's signal handlers. Once [`Signals::install`] returns, no signal of the table
/// above has its default action any more, for the rest of the process (tokio never restores
/// it), so a SIGHUP can't kill a gateway even while it starts.
pub struct Signals {
    stopping: watch::Receiver<bool>,
    hangups: Arc<watch::Sender<u64>>,
    _handler: AbortOnDrop,
}

impl Signals {
    /// Installs the handlers; must run inside the tokio runtime.
    pub fn install() -> std::io::Result<Self> {
        let (stop, stopping) = watch::channel(false);
        let hangups = Arc::new(watch::Sender::new(0));
        let (heard, received) = mpsc::unbounded_channel();
        #[cfg(unix)]
        for (number, name, action) in handled() {
            let kind = tokio::signal::unix::SignalKind::from_raw(number);
            let mut signal = match tokio::signal::unix::signal(kind) {
                Ok(signal) => signal,
                // A signal only ignored that the host keeps for itself (valgrind holds one of
                // the real-time signals) is left to it; one that stops or reloads is required.
                Err(err) if action == Action::Ignore => {
                    tracing::debug!(signal = %name, error = %err, "signal left to the host");
                    continue;
                }
                Err(err) => {
                    return Err(std::io::Error::new(
                        err.kind(),
                        format!("can't handle {name}: {err}"),
                    ));
                }
            };
            let heard = heard.clone();
            tokio::spawn(async move {
                while signal.recv().await.is_some() {
                    if heard.send((name.clone(), action)).is_err() {
                        return;
                    }
                }
            });
        }
        #[cfg(not(unix))]
        {
            let heard = heard.clone();
            tokio::spawn(async move {
                while tokio::signal::ctrl_c().await.is_ok() {
                    if heard.send(("Ctrl-C".to_owned(), Action::Stop)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(heard);
        let handler = tokio::spawn(handle(received, stop, Arc::clone(&hangups)));
        Ok(Self {
            stopping,
            hangups,
            _handler: AbortOnDrop(handler),
        })
    }

    /// SIGHUPs, for something that reloads on them.
    pub fn hangups(&self) -> Hangups {
        Hangups(Some(self.hangups.subscribe()))
    }

    /// Completes at the first stop signal (at once if one came already).
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopping = self.stopping.clone();
        async move {
            // The sender lives as long as the handler; gone, nothing can stop the gateway but
            // SIGKILL, so wait for good.
            if stopping.wait_for(|stopping| *stopping).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Acts on each signal heard, for as long as the process serves.
async fn handle(
    mut received: mpsc::UnboundedReceiver<(String, Action)>,
    stop: watch::Sender<bool>,
    hangups: Arc<watch::Sender<u64>>,
) {
    while let Some((signal, action)) = received.recv().await {
        let signal = signal.as_str();
        match action {
            Action::Stop if *stop.borrow() => {
                tracing::info!(
                    signal,
                    "already shutting down; the drain ends by the shutdown timeout"
                );
            }
            Action::Stop => {
                tracing::info!(signal, "shutting down: finishing in-flight requests");
                stop.send_replace(true);
            }
            Action::Reload if hangups.receiver_count() == 0 => {
                tracing::info!(
                    signal,
                    "nothing to reload (no --trusted-documents); ignored"
                );
            }
            Action::Reload => {
                tracing::info!(signal, "reloading the trusted documents");
                hangups.send_modify(|count| *count += 1);
            }
            Action::Ignore => {
                tracing::warn!(signal, "the gateway gives this signal no meaning; ignored");
            }
        }
    }
}

/// SIGHUPs as a reloader waits for them; hangups that come while it reloads count once.
pub struct Hangups(Option<watch::Receiver<u64>>);

impl Hangups {
    /// No SIGHUP ever: for a gateway whose process signals belong to someone else (tests).
    pub fn none() -> Self {
        Self(None)
    }

    /// Waits for the next SIGHUP; `false` once none can come.
    pub async fn next(&mut self) -> bool {
        match &mut self.0 {
            Some(hangups) => hangups.changed().await.is_ok(),
            None => false,
        }
    }
}
