//! A TCP proxy the tests can cut, stall and restore, to take a dependency (the database, Redis,
//! the JWKS host) away from a gateway without stopping the shared one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Open,
    /// Connections are closed at once.
    Cut,
    /// Connections are accepted and held open, and nothing goes through: a dependency that
    /// hangs.
    Stall,
    /// Requests go through; what comes back is held until the proxy is open again: a slow
    /// answer, delivered late.
    Hold,
}

pub struct Proxy {
    pub address: std::net::SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: Arc<AtomicUsize>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Forwards connections on a new local port to `upstream` (host:port).
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let (mode, watching) = watch::channel(Mode::Open);
        let accepted = Arc::new(AtomicUsize::new(0));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (counted, tasks) = (accepted.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let now = *watching.borrow();
                let upstream = upstream.clone();
                let mut stalls = watching.clone();
                let task = tokio::spawn(async move {
                    match now {
                        Mode::Cut => {}
                        Mode::Stall => std::future::pending().await,
                        Mode::Open | Mode::Hold => {
                            let Ok(server) = TcpStream::connect(&upstream).await else {
                                return;
                            };
                            let (mut client_read, mut client_write) = client.into_split();
                            let (mut server_read, mut server_write) = server.into_split();
                            let mut holds = stalls.clone();
                            let down = async move {
                                let mut buf = vec![0u8; 16 * 1024];
                                loop {
                                    let n = match server_read.read(&mut buf).await {
                                        Ok(0) | Err(_) => return,
                                        Ok(n) => n,
                                    };
                                    released(&mut holds).await;
                                    if client_write.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            };
                            tokio::select! {
                                _ = tokio::io::copy(&mut client_read, &mut server_write) => {}
                                () = down => {}
                                // Both ends stay open, and silent, until the task is aborted.
                                () = stalled(&mut stalls) => {
                                    std::future::pending::<()>().await;
                                }
                            }
                        }
                    }
                });
                tasks.lock().await.push(task);
            }
        });
        Self {
            address,
            mode,
            accepted,
            connections,
            accept,
        }
    }

    async fn close_all(&self) {
        for task in self.connections.lock().await.drain(..) {
            task.abort();
        }
    }

    /// Drops every open connection and refuses new ones, as a network failure would.
    pub async fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
        self.close_all().await;
    }

    /// Holds every connection open and lets nothing through, as a hung host would.
    pub fn stall(&self) {
        self.mode.send_replace(Mode::Stall);
    }

    /// Forwards again; connections held by a stall are closed.
    pub async fn restore(&self) {
        self.mode.send_replace(Mode::Open);
        self.close_all().await;
    }

    /// Lets requests through and holds their answers back until [`Proxy::release`].
    pub fn hold(&self) {
        self.mode.send_replace(Mode::Hold);
    }

    /// Delivers what was held, and forwards again.
    pub fn release(&self) {
        self.mode.send_replace(Mode::Open);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Returns once the proxy stalls.
async fn stalled(mode: &mut watch::Receiver<Mode>) {
    loop {
        if *mode.borrow_and_update() == Mode::Stall {
            return;
        }
        if mode.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Returns once the proxy doesn't hold answers back.
async fn released(mode: &mut watch::Receiver<Mode>) {
    while *mode.borrow_and_update() == Mode::Hold {
        if mode.changed().await.is_err() {
            return;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        if let Ok(mut tasks) = self.connections.try_lock() {
            tasks.drain(..).for_each(|t| t.abort());
        }
    }
}
