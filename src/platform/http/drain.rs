//! Stopping without cutting a request. When the drain ends, the listener takes what already
//! completed its handshake and closes (a connection left in the kernel's queue would be reset
//! with its request in it); connections already accepted are still served, so a request that
//! was on its way when the listener closed gets its answer. Shutdown then waits until no
//! request has been running for a short quiet spell (`InFlight::quiet_for`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Accepts until `stop`, then closes.
pub struct DrainingListener {
    state: Listening,
    stop: CancellationToken,
}

enum Listening {
    Open(TcpListener),
    /// Taking what is in the kernel's queue, with plain non-blocking accepts (a readiness
    /// cached by the runtime could be stale).
    Closing(std::net::TcpListener),
    Closed,
}

impl DrainingListener {
    pub fn new(inner: TcpListener, stop: CancellationToken) -> Self {
        Self {
            state: Listening::Open(inner),
            stop,
        }
    }
}

impl axum::serve::Listener for DrainingListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match &mut self.state {
                Listening::Open(listener) => {
                    tokio::select! {
                        biased;
                        _ = self.stop.cancelled() => {
                            let Listening::Open(listener) =
                                std::mem::replace(&mut self.state, Listening::Closed)
                            else {
                                unreachable!("open until now")
                            };
                            if let Ok(listener) = listener.into_std() {
                                self.state = Listening::Closing(listener);
                            }
                        }
                        accepted = TcpListener::accept(listener) => match accepted {
                            Ok(accepted) => return accepted,
                            Err(e) => accept_failed(e).await,
                        },
                    }
                }
                Listening::Closing(listener) => match listener.accept() {
                    Ok((stream, addr)) => {
                        let stream = stream
                            .set_nonblocking(true)
                            .and_then(|()| TcpStream::from_std(stream));
                        if let Ok(stream) = stream {
                            return (stream, addr);
                        }
                    }
                    // Empty (WouldBlock) or failing: closed from here on.
                    Err(_) => self.state = Listening::Closed,
                },
                Listening::Closed => return std::future::pending().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        match &self.state {
            Listening::Open(listener) => listener.local_addr(),
            Listening::Closing(listener) => listener.local_addr(),
            Listening::Closed => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }
}

/// As axum's own listener: a failed connection is skipped; anything else (out of file
/// descriptors) is logged and waited out.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Requests being handled now.
#[derive(Default)]
pub struct InFlight {
    running: AtomicUsize,
    changed: Notify,
}

struct Running(Arc<InFlight>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

impl InFlight {
    /// Returns once no request has started or run for `quiet`.
    pub async fn quiet_for(&self, quiet: Duration) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.running.load(Ordering::SeqCst) == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(quiet) => return,
                    _ = &mut changed => {}
                }
            } else {
                changed.await;
            }
        }
    }
}

/// Counts the request while it runs and its body is sent.
pub async fn track(State(in_flight): State<Arc<InFlight>>, req: Request, next: Next) -> Response {
    in_flight.running.fetch_add(1, Ordering::SeqCst);
    in_flight.changed.notify_waiters();
    let running = Running(in_flight);
    next.run(req).await.map(|body| {
        // The guard lives in the body, so it ends when the body is sent or dropped.
        Body::new(body.map_frame(move |frame| {
            let _ = &running;
            frame
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quiet_waits_for_running_requests_and_a_spell_without_any() {
        let in_flight = Arc::new(InFlight::default());
        in_flight.running.fetch_add(1, Ordering::SeqCst);
        let request = Running(in_flight.clone());
        let quiet = in_flight.quiet_for(Duration::from_millis(50));
        tokio::pin!(quiet);
        assert!(
            tokio::time::timeout(Duration::from_millis(120), &mut quiet)
                .await
                .is_err(),
            "not quiet while a request runs"
        );
        drop(request);
        tokio::time::timeout(Duration::from_secs(5), quiet)
            .await
            .expect("quiet once it ended");
    }
}
