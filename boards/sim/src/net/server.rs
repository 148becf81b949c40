//! TCP accept loops: one thread per listener, one short-lived thread per
//! connection, a cap on concurrent connections per board, per-operation
//! socket timeouts, and prompt stop through [`Shutdown`].

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::Shutdown;

/// Most connections one board serves at once (all services together);
/// further connections are closed at once, as a small device would.
pub const MAX_CONNECTIONS: usize = 32;
/// Timeout of a single socket read or write.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an accept loop checks for a stop.
const POLL_MS: i32 = 200;

/// Counts live connections against a cap.
pub struct ConnLimit {
    live: AtomicUsize,
    max: usize,
}

impl ConnLimit {
    pub fn new(max: usize) -> ConnLimit {
        ConnLimit {
            live: AtomicUsize::new(0),
            max,
        }
    }

    fn acquire(self: &Arc<Self>) -> Option<Slot> {
        let prev = self.live.fetch_add(1, Ordering::SeqCst);
        if prev >= self.max {
            self.live.fetch_sub(1, Ordering::SeqCst);
            None
        } else {
            Some(Slot(Arc::clone(self)))
        }
    }
}

struct Slot(Arc<ConnLimit>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits until `listener` is readable or `POLL_MS` passes.
fn readable(listener: &TcpListener) -> bool {
    let mut pfd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let rc = unsafe { libc::poll(&mut pfd, 1, POLL_MS) };
    rc > 0 && (pfd.revents & libc::POLLIN) != 0
}

/// Runs an accept loop for `listener` on its own thread; each connection is
/// handed to `handler` on a fresh thread with timeouts set.
pub fn spawn_listener<F>(
    name: &'static str,
    listener: TcpListener,
    sd: Arc<Shutdown>,
    limit: Arc<ConnLimit>,
    handler: F,
) -> io::Result<JoinHandle<()>>
where
    F: Fn(TcpStream, SocketAddr, &Arc<Shutdown>) + Send + Sync + 'static,
{
    listener.set_nonblocking(true)?;
    let handler = Arc::new(handler);
    std::thread::Builder::new()
        .name(format!("net-{name}"))
        .spawn(move || {
            while !sd.is_stopped() {
                if !readable(&listener) {
                    continue;
                }
                let (stream, peer) = match listener.accept() {
                    Ok(x) => x,
                    Err(_) => continue,
                };
                let Some(slot) = limit.acquire() else {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    continue;
                };
                if stream.set_nonblocking(false).is_err()
                    || stream.set_read_timeout(Some(IO_TIMEOUT)).is_err()
                    || stream.set_write_timeout(Some(IO_TIMEOUT)).is_err()
                {
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let h = Arc::clone(&handler);
                let sd2 = Arc::clone(&sd);
                let spawned = std::thread::Builder::new()
                    .name(format!("net-{name}-conn"))
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        let _slot = slot;
                        let _reg = sd2.register(&stream);
                        h(stream, peer, &sd2);
                    });
                // Could not spawn: the connection (moved into the closure)
                // is dropped, which closes it.
                drop(spawned);
            }
        })
}
