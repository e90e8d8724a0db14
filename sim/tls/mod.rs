//! Real clients on Microsoft's own host names: the simulator's CA ([`authority`]), the hosts it
//! emulates ([`hosts`]), the TLS port that picks a certificate by SNI ([`listen`]) and the HTTP
//! proxy that answers `CONNECT host:443` for emulated hosts itself and refuses every other one
//! ([`proxy`]). Nothing here forwards anything off the machine.

pub(crate) mod authority;
pub mod hosts;
pub(crate) mod listen;
pub(crate) mod proxy;

pub use authority::{Authority, CaOrigin, TlsError};

use std::time::Duration;

/// How long a TLS handshake, or the first bytes of one, may take.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a request reached the simulator when it did not come to the plain port. Carried as a
/// request extension; answers use it to build their URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Arrival {
    /// Which listener took it.
    pub via: Via,
    /// It came over TLS (the TLS port, or a proxy tunnel).
    pub secure: bool,
    /// The host the TLS session is for (SNI, or the `CONNECT` target).
    pub host: Option<String>,
}

/// The listener a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// `--tls-port`.
    Tls,
    /// `--proxy-port`: a `CONNECT` tunnel, or an absolute-form request.
    Proxy,
}

impl Arrival {
    /// A request in a TLS session for `host` on the TLS port or through the proxy.
    pub fn tls(via: Via, host: &str) -> Arrival {
        Arrival {
            via,
            secure: true,
            host: Some(host.to_string()),
        }
    }
}
