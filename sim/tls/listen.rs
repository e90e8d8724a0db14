//! The TLS side of a connection: on the TLS port (`--tls-port`) and inside a proxy tunnel. The
//! client's SNI picks the certificate; a name the simulator does not emulate, a missing SNI (on
//! the TLS port), plain HTTP, bytes that are not TLS and a client that stalls or hangs up are
//! each refused cleanly with one log line.

use super::{Arrival, Authority, HANDSHAKE_TIMEOUT, Via, hosts};
use crate::error::{ErrorCode, SimError};
use crate::serve::{self, Connections};
use axum::Router;
use axum::response::IntoResponse;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;
use tracing::{debug, info, warn};

const TARGET: &str = "lifecycle_sim::tls";

/// What a TLS session needs: the CA, the router, the connections to watch.
#[derive(Clone)]
pub struct TlsContext {
    /// Mints each host's certificate.
    pub authority: Arc<Authority>,
    /// Serves the requests.
    pub router: Router,
    /// The open connections, for a graceful shutdown.
    pub connections: Connections,
    /// The plain port's base URL, for the hint given to plain HTTP on the TLS port.
    pub plain_url: String,
}

/// A connection to the TLS port: plain HTTP gets a 400 that says where to go; TLS is served for
/// the host its SNI names.
pub async fn accept_tls_port(stream: TcpStream, peer: SocketAddr, cx: TlsContext) {
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
        Err(_) => {
            info!(target: TARGET, %peer, "TLS port: the client sent nothing for {HANDSHAKE_TIMEOUT:?}; closed");
            return;
        }
        Ok(Ok(0)) | Ok(Err(_)) => {
            debug!(target: TARGET, %peer, "TLS port: the client closed the connection before sending anything");
            return;
        }
        Ok(Ok(_)) => {}
    }
    // Every TLS connection starts with a handshake record (content type 22).
    if first[0] != 0x16 {
        warn!(target: TARGET, %peer, "TLS port: the client spoke plain HTTP (or something else); answered 400");
        refuse_plain(stream, cx).await;
        return;
    }
    handshake(stream, peer, None, Via::Tls, cx).await;
}

/// Answers whatever plain HTTP came to the TLS port with 400 and the way out, then closes.
async fn refuse_plain(stream: TcpStream, cx: TlsContext) {
    let message = format!(
        "This port speaks HTTPS (TLS) only. Use https:// with the host name of the Microsoft \
         service you mean (e.g. https://api.bap.microsoft.com), or send plain HTTP to the \
         simulator's plain port at {}",
        cx.plain_url
    );
    let service = hyper::service::service_fn(move |_request| {
        let mut response =
            SimError::new(ErrorCode::PlainHttpOnTlsPort, message.clone()).into_response();
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        async move { Ok::<_, std::convert::Infallible>(response) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    let _ = cx.connections.watch(connection).await;
}

/// Runs a TLS handshake on `io`, choosing the certificate by SNI (or, with no SNI, by
/// `fallback`: the host a proxy tunnel was opened to), then serves the session's requests.
pub async fn handshake<I>(io: I, peer: SocketAddr, fallback: Option<&str>, via: Via, cx: TlsContext)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
    let start = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor).await {
        Err(_) => {
            info!(target: TARGET, %peer, "TLS: the client did not finish its hello within {HANDSHAKE_TIMEOUT:?}; closed");
            return;
        }
        Ok(Err(e)) => {
            info!(target: TARGET, %peer, error = %e, "TLS: no usable client hello (the client hung up, or sent bytes that are not TLS); closed");
            return;
        }
        Ok(Ok(start)) => start,
    };
    let sni = start
        .client_hello()
        .server_name()
        .map(str::to_ascii_lowercase);
    let host = match (sni.as_deref(), fallback) {
        (Some(name), _) if hosts::emulated(name).is_some() => name.to_string(),
        (Some(name), _) => {
            warn!(target: TARGET, %peer, sni = name, "TLS: the client asked for {name}, which the simulator does not emulate; refused (see GET /_sim/health for the proxy, and the README's host table)");
            refuse(start, &cx).await;
            return;
        }
        (None, Some(host)) => host.to_string(),
        (None, None) => {
            warn!(target: TARGET, %peer, "TLS: the client sent no server name (SNI), so the simulator cannot tell which host's certificate to present; refused. Connect by the Microsoft host name (e.g. https://api.bap.microsoft.com) mapped to this port");
            refuse(start, &cx).await;
            return;
        }
    };
    let config = match cx.authority.server_config(&host) {
        Ok(config) => config,
        Err(e) => {
            warn!(target: TARGET, %peer, %host, error = %e, "TLS: no certificate; refused");
            return;
        }
    };
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, start.into_stream(config)).await {
        Err(_) => {
            info!(target: TARGET, %peer, %host, "TLS: the handshake did not finish within {HANDSHAKE_TIMEOUT:?}; closed");
            return;
        }
        Ok(Err(e)) => {
            info!(target: TARGET, %peer, %host, error = %e, "TLS: the handshake failed (does the client trust the simulator's CA? GET /_sim/tls/ca.pem)");
            return;
        }
        Ok(Ok(stream)) => stream,
    };
    debug!(target: TARGET, %peer, %host, "TLS session");
    let arrival = Arrival::tls(via, &host);
    serve::serve(stream, cx.router, Some(arrival), cx.connections).await;
}

/// Ends a handshake with an alert (instead of a bare close), so the client reports a TLS
/// refusal rather than a network error.
async fn refuse<I>(start: tokio_rustls::StartHandshake<I>, cx: &TlsContext)
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    if let Ok(config) = cx.authority.refusing_config() {
        let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, start.into_stream(config)).await;
    }
}
