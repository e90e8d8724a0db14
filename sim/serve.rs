//! Serving connections. Every listener (the plain port, the TLS port, the proxy and its
//! tunnels) hands its connections here. Each connection is served with HTTP/1.1 or HTTP/2
//! through the one router, so every surface, the fault layer and the journal behave the same
//! whichever way a request came in. A request from the TLS port or the proxy carries its
//! [`Arrival`](crate::tls::Arrival).
//!
//! Shutdown: [`Connections::drain`] stops the listeners, tells every open connection to finish
//! what it is doing and close (HTTP/2 sends GOAWAY), and waits for them.

use crate::tls::Arrival;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;
use tracing::{debug, error};

/// How long a client may take to send a request's headers (HTTP/1.1).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The open connections of every listener, for a graceful shutdown; cheap to clone. A
/// connection counts from when it is served (a TLS handshake still under way does not hold up
/// a shutdown; it is dropped if the shutdown began meanwhile).
#[derive(Debug, Clone)]
pub struct Connections {
    /// `true` once the shutdown began. Each served connection holds a receiver until it ends,
    /// so the sender sees when the last one has.
    stop: Arc<watch::Sender<bool>>,
}

impl Default for Connections {
    fn default() -> Self {
        let (stop, _) = watch::channel(false);
        Connections {
            stop: Arc::new(stop),
        }
    }
}

impl Connections {
    /// Runs `connection` to its end; when the shutdown begins (or had begun), asks it to finish
    /// its requests and close.
    pub async fn watch<C: GracefulConnection>(&self, connection: C) -> Result<(), C::Error> {
        let mut stop = self.stop.subscribe();
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => return result,
            _ = stop.wait_for(|stopped| *stopped) => {}
        }
        connection.as_mut().graceful_shutdown();
        // `stop` lives until the connection has closed: drain waits for it.
        connection.await
    }

    /// Whether the shutdown has begun.
    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Completes when the shutdown begins.
    pub async fn stopped(&self) {
        let mut stop = self.stop.subscribe();
        let _ = stop.wait_for(|stopped| *stopped).await;
    }

    /// Begins the shutdown: every connection finishes its requests and closes; completes once
    /// all have.
    pub async fn drain(&self) {
        self.stop.send_replace(true);
        self.stop.closed().await;
    }
}

/// The HTTP/1.1 + HTTP/2 connection builder every listener uses.
pub fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// Serves one connection with `router`; each request carries `arrival` when there is one.
/// Returns when the connection closes.
pub async fn serve<I>(io: I, router: Router, arrival: Option<Arrival>, connections: Connections)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(axum::body::Body::new);
        if let Some(arrival) = &arrival {
            request.extensions_mut().insert(arrival.clone());
        }
        router.clone().oneshot(request)
    });
    if connections.stopping() {
        return;
    }
    let builder = builder();
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    if let Err(e) = connections.watch(connection).await {
        debug!(target: "lifecycle_sim::conn", error = %e, "connection ended with an error");
    }
}

/// Accepts connections until the shutdown begins, handing each to `handle` on its own task.
pub async fn accept<F, Fut>(listener: TcpListener, connections: Connections, handle: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = connections.stopped() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(handle(stream, peer));
            }
            Err(e) if is_per_connection(&e) => {
                debug!(target: "lifecycle_sim::conn", error = %e, "a connection failed while being accepted");
            }
            Err(e) => {
                // Out of file descriptors or similar: wait a moment instead of spinning.
                error!(target: "lifecycle_sim::conn", error = %e, "cannot accept connections");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(100)) => {},
                    () = connections.stopped() => return,
                }
            }
        }
    }
}

/// Errors that concern one connection only (the listener is fine).
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
