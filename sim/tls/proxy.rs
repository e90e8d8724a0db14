//! The HTTP proxy (`--proxy-port`): what a client reaches by `HTTPS_PROXY`. It never connects
//! anywhere. `CONNECT host:443` to an emulated host is answered by the simulator itself: the
//! tunnel is a TLS session with the host's certificate, served by the same router as the plain
//! port. An absolute-form request (`GET http://host/...`) for an emulated host is served
//! directly. Every other host is refused with 403 and a body naming it; a `CONNECT` to another
//! port, or without one, is refused too.

use super::listen::{self, TlsContext};
use super::{Arrival, Via, hosts};
use crate::error::{ErrorCode, SimError};
use axum::body::Body;
use axum::http::{Method, Request, Response};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use tokio::net::TcpStream;
use tower::ServiceExt;
use tracing::{debug, info, warn};

const TARGET: &str = "lifecycle_sim::proxy";

/// Serves one client connection of the proxy port (HTTP/1.1, as proxies are spoken to).
pub async fn accept_proxy_port(stream: TcpStream, peer: SocketAddr, cx: TlsContext) {
    let connections = cx.connections.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let cx = cx.clone();
        async move { Ok::<_, Infallible>(answer(request, peer, cx).await) }
    });
    let builder = crate::serve::builder().http1_only();
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    if let Err(e) = connections.watch(connection).await {
        debug!(target: TARGET, %peer, error = %e, "proxy connection ended with an error");
    }
}

async fn answer(request: Request<Incoming>, peer: SocketAddr, cx: TlsContext) -> Response<Body> {
    if request.method() == Method::CONNECT {
        return connect(request, peer, cx);
    }
    let Some(authority) = request.uri().authority().map(|a| a.to_string()) else {
        // Origin-form: the client is talking to the simulator itself, as on the plain port.
        return serve(request, None, cx).await;
    };
    let Some((host, _)) = hosts::split_authority(&authority) else {
        return refusal(SimError::new(
            ErrorCode::InvalidProxyRequest,
            format!(
                "'{authority}' is not a host name; proxy requests name the host they are for, e.g. GET http://api.bap.microsoft.com/..."
            ),
        ));
    };
    if hosts::emulated(&host).is_none() {
        warn!(target: TARGET, %peer, %host, method = %request.method(), "proxy refused a request for a host the simulator does not emulate");
        return refusal(not_emulated(&host));
    }
    let arrival = Arrival {
        via: Via::Proxy,
        secure: request.uri().scheme_str() == Some("https"),
        host: Some(host),
    };
    serve(request, Some(arrival), cx).await
}

async fn serve(
    request: Request<Incoming>,
    arrival: Option<Arrival>,
    cx: TlsContext,
) -> Response<Body> {
    let mut request = request.map(Body::new);
    if let Some(arrival) = arrival {
        request.extensions_mut().insert(arrival);
    }
    match cx.router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// `CONNECT host:443`: 200 and a TLS session for `host`, or a refusal.
fn connect(request: Request<Incoming>, peer: SocketAddr, cx: TlsContext) -> Response<Body> {
    let target = request.uri().authority().map(|a| a.to_string());
    let Some((host, port)) = target.as_deref().and_then(hosts::split_authority) else {
        warn!(target: TARGET, %peer, uri = %request.uri(), "proxy refused a CONNECT without host:port");
        return refusal(SimError::new(
            ErrorCode::InvalidProxyRequest,
            format!(
                "CONNECT needs its target as host:port (e.g. CONNECT api.bap.microsoft.com:443), \
                 not '{}'",
                request.uri()
            ),
        ));
    };
    let Some(port) = port else {
        warn!(target: TARGET, %peer, %host, "proxy refused a CONNECT without a port");
        return refusal(SimError::new(
            ErrorCode::InvalidProxyRequest,
            format!(
                "CONNECT {host} names no port; emulated hosts answer on 443 (CONNECT {host}:443)"
            ),
        ));
    };
    if hosts::emulated(&host).is_none() {
        warn!(target: TARGET, %peer, %host, port, "proxy refused CONNECT to a host the simulator does not emulate");
        return refusal(not_emulated(&host));
    }
    if port != 443 {
        warn!(target: TARGET, %peer, %host, port, "proxy refused CONNECT to a port other than 443");
        return refusal(SimError::new(
            ErrorCode::ProxyPortRefused,
            format!(
                "The simulator answers {host} on port 443 only, not {port}; nothing is forwarded \
                 off this machine"
            ),
        ));
    }
    info!(target: TARGET, %peer, %host, "proxy tunnel");
    tokio::spawn(async move {
        match hyper::upgrade::on(request).await {
            Ok(upgraded) => {
                listen::handshake(TokioIo::new(upgraded), peer, Some(&host), Via::Proxy, cx).await;
            }
            Err(e) => {
                debug!(target: TARGET, %peer, %host, error = %e, "the client left before the tunnel opened")
            }
        }
    });
    Response::new(Body::empty())
}

fn not_emulated(host: &str) -> SimError {
    SimError::new(
        ErrorCode::HostNotEmulated,
        format!(
            "{host} is not a host the simulator emulates, and nothing leaves this machine: the \
             proxy forwards nothing. The README's host table lists the emulated hosts; exclude \
             others from the proxy with NO_PROXY"
        ),
    )
}

/// The refusal's response, with the code in the reason phrase too (clients such as Python's
/// show only the status line of a refused CONNECT).
fn refusal(error: SimError) -> Response<Body> {
    let reason = format!("{} {}", error.code.as_str(), "(lifecycle-sim)");
    let mut response = error.into_response();
    if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reason.into_bytes()) {
        response.extensions_mut().insert(phrase);
    }
    response
}
