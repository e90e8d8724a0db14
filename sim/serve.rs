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

/// Serves a connection of the plain port. A first request line that the HTTP parser would
/// answer with a bare, empty 400 (a path holding `<`, `>`, a backtick or a space, as a pasted
/// `<id>` placeholder does) gets a 400 `InvalidRequestLine` that says what to change instead.
pub async fn serve_plain(stream: TcpStream, router: Router, connections: Connections) {
    let mut first = [0u8; 2048];
    let peeked = tokio::select! {
        peeked = stream.peek(&mut first) => peeked,
        () = connections.stopped() => return,
    };
    if let Ok(n) = peeked
        && let Some(problem) = unreadable_request_line(&first[..n])
    {
        refuse_request_line(stream, &problem).await;
        return;
    }
    serve(stream, router, None, connections).await;
}

/// What is wrong with the request line at the start of `bytes`, when it is complete, looks like
/// HTTP/1 and would not parse.
fn unreadable_request_line(bytes: &[u8]) -> Option<String> {
    let end = bytes.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&bytes[..end]).ok()?;
    let (method, rest) = line.split_once(' ')?;
    let (target, version) = rest.rsplit_once(' ')?;
    if !version.starts_with("HTTP/1.") || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let bad = target
        .char_indices()
        .find(|&(_, c)| matches!(c, '<' | '>' | '`' | ' ') || c.is_ascii_control())?;
    let what = match bad.1 {
        ' ' => "a space".to_string(),
        c => format!("'{c}'"),
    };
    Some(format!(
        "The request line could not be read: the path {target} holds {what} (at character {}), \
         which a URL cannot carry as is. Replace placeholders such as <id> with real values, \
         or percent-encode the character (e.g. %3C for <, %20 for a space)",
        bad.0 + 1
    ))
}

/// Writes a 400 `InvalidRequestLine` with `message` and closes the connection.
async fn refuse_request_line(mut stream: TcpStream, message: &str) {
    use axum::response::IntoResponse;
    use tokio::io::AsyncWriteExt;
    // The error as every route renders it (the control plane's envelope).
    let response =
        crate::error::SimError::new(crate::error::ErrorCode::InvalidRequestLine, message)
            .into_response();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
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

#[cfg(test)]
mod tests {
    use super::unreadable_request_line;

    #[test]
    fn only_request_lines_the_parser_refuses_are_caught() {
        let says =
            |line: &str| unreadable_request_line(format!("{line}\r\nHost: x\r\n\r\n").as_bytes());
        let placeholder = says("GET /_sim/tenants/<id>/capacity HTTP/1.1").unwrap(); // ok: test
        assert!(
            placeholder.contains("holds '<' (at character 15)"),
            "{placeholder}"
        );
        assert!(says("PATCH /a b HTTP/1.1").unwrap().contains("a space")); // ok: test
        assert!(says("GET /a`b HTTP/1.1").is_some());
        for fine in [
            "GET /_sim/tenants/c0de/capacity HTTP/1.1",
            "GET /a{b}|c^d%zz HTTP/1.1",
            "PRI * HTTP/2.0",
            "GET / HTTP/1.1",
        ] {
            assert_eq!(says(fine), None, "{fine}");
        }
        assert_eq!(
            unreadable_request_line(b"GET /<id> HTT"),
            None,
            "not complete yet"
        );
    }
}
