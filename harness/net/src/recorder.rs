//! A recording TCP server: the scaffolding the rogue TLS server and the
//! downgrade server share.
//!
//! It binds a listener, polls it (non-blocking) on its own thread, runs a
//! per-connection handler on one thread per connection (at most
//! [`Limits::max_active`] at once; more wait in the accept queue), counts
//! every accepted connection and keeps the first [`Limits::max_records`]
//! records the handler returns. Stopping sets a flag the handlers poll,
//! then joins the accept thread, which joins the connection threads.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::NetError;
use crate::link::Link;
use crate::stop::Stop;

/// Bounds and names for a [`RecordingServer`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections handled at once (at least 1); more wait in the accept queue.
    pub max_active: usize,
    /// Connection records kept; later connections are counted, not stored.
    pub max_records: usize,
    /// Sleep between polls of the listener, and of the records in
    /// [`RecordingServer::wait_for`].
    pub poll: Duration,
    /// Name of the accept thread.
    pub thread_name: &'static str,
    /// Name of each connection thread.
    pub conn_thread_name: &'static str,
}

/// One accepted connection, as the handler sees it.
pub(crate) struct Accepted<'a> {
    pub sock: TcpStream,
    pub peer: SocketAddr,
    /// Accept order (0 = first connection this server accepted).
    pub seq: usize,
    /// Set when the server is stopping; handlers poll it and return.
    pub stopping: &'a AtomicBool,
}

/// A running recording server. Stopped (and its threads joined) by
/// [`RecordingServer::shutdown`] or on drop.
pub(crate) struct RecordingServer<R> {
    addr: SocketAddr,
    link: Link,
    poll: Duration,
    records: Arc<Mutex<Vec<R>>>,
    total: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl<R: Clone + Send + 'static> RecordingServer<R> {
    /// Listens on the link's host address and `port` (0 picks one),
    /// taking connections only through the link, and serves each with
    /// `handler` until shut down.
    pub fn start<F>(link: &Link, port: u16, limits: Limits, handler: F) -> Result<Self, NetError>
    where
        F: Fn(Accepted<'_>) -> R + Send + Sync + 'static,
    {
        let listener = link.tcp_listener(port)?;
        listener
            .set_nonblocking(true)
            .map_err(|e| NetError::io("listener", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| NetError::io("listener", e))?;
        let records = Arc::new(Mutex::new(Vec::new()));
        let total = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = {
            let shared = Shared {
                records: records.clone(),
                total: total.clone(),
                stopping: stopping.clone(),
                limits,
            };
            let handler = Arc::new(handler);
            std::thread::Builder::new()
                .name(limits.thread_name.into())
                .spawn(move || accept_loop(listener, shared, handler))
                .map_err(|e| NetError::Setup(format!("thread: {e}")))?
        };
        Ok(Self {
            addr,
            link: link.clone(),
            poll: limits.poll,
            records,
            total,
            stopping,
            thread: Some(thread),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections finished so far (in the order they finished).
    pub fn connections(&self) -> Vec<R> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Connections accepted so far (finished or not, kept or not).
    pub fn accepted(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// Waits until `n` connections have finished (or the stop fires; a
    /// board that never came because its link is down is told apart).
    pub fn wait_for(&self, n: usize, stop: &Stop) -> Result<Vec<R>, NetError> {
        loop {
            let got = self.connections();
            if got.len() >= n {
                return Ok(got);
            }
            if let Some(why) = stop.reason() {
                self.link.ensure_up()?;
                return Err(NetError::Stopped(why));
            }
            std::thread::sleep(self.poll);
        }
    }

    /// Stops accepting, waits for open connections, returns all records.
    pub fn shutdown(mut self) -> Vec<R> {
        self.stop_thread();
        self.connections()
    }
}

impl<R> RecordingServer<R> {
    fn stop_thread(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl<R> Drop for RecordingServer<R> {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// What the accept thread shares with the server handle.
struct Shared<R> {
    records: Arc<Mutex<Vec<R>>>,
    total: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    limits: Limits,
}

fn accept_loop<R, F>(listener: TcpListener, shared: Shared<R>, handler: Arc<F>)
where
    R: Send + 'static,
    F: Fn(Accepted<'_>) -> R + Send + Sync + 'static,
{
    let Shared {
        records,
        total,
        stopping,
        limits,
    } = shared;
    let active = Arc::new(AtomicUsize::new(0));
    let max_active = limits.max_active.max(1);
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !stopping.load(Ordering::SeqCst) {
        workers.retain(|w| !w.is_finished());
        if active.load(Ordering::SeqCst) >= max_active {
            std::thread::sleep(limits.poll);
            continue;
        }
        match listener.accept() {
            Ok((sock, peer)) => {
                let seq = total.fetch_add(1, Ordering::SeqCst);
                active.fetch_add(1, Ordering::SeqCst);
                let (handler, records, active_w, stopping) = (
                    handler.clone(),
                    records.clone(),
                    active.clone(),
                    stopping.clone(),
                );
                let max_records = limits.max_records;
                let spawned = std::thread::Builder::new()
                    .name(limits.conn_thread_name.into())
                    .spawn(move || {
                        let rec = handler(Accepted {
                            sock,
                            peer,
                            seq,
                            stopping: &stopping,
                        });
                        let mut r = records.lock().unwrap_or_else(|p| p.into_inner());
                        if r.len() < max_records {
                            r.push(rec);
                        }
                        active_w.fetch_sub(1, Ordering::SeqCst);
                    });
                match spawned {
                    Ok(h) => workers.push(h),
                    Err(_) => {
                        active.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            }
            // WouldBlock (nothing pending) or a transient accept error.
            Err(_) => std::thread::sleep(limits.poll),
        }
    }
    for w in workers {
        let _ = w.join();
    }
}
