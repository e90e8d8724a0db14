//! The Microsoft host names the simulator answers for: which surface each one is, and how to
//! read a host out of a `Host` header, a `CONNECT` target or an SNI name.
//!
//! A host is emulated when it is in [`TABLE`] (exactly, or by the pattern a row gives). The
//! proxy tunnels only to these, the TLS listener has certificates only for these, and an answer
//! that names another host of the simulator (a SAS URL's storage host, a regional BAP host)
//! names one of these.

/// What an emulated host serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostKind {
    /// Entra ID sign-in: token endpoints and discovery.
    Entra,
    /// Microsoft Graph (the OIDC userinfo route).
    Graph,
    /// The LCS public API, in any LCS geography.
    Lcs,
    /// The BAP admin API, global or regional.
    Bap,
    /// The Power Platform API, global or per tenant or environment.
    PowerPlatform,
    /// Azure Blob Storage behind the asset library's SAS URLs; the account is the first label.
    Blob,
}

/// One row of the host table: a name or pattern (`{label}` stands for one DNS label), what it
/// serves, and a note for the README.
#[derive(Debug, Clone, Copy)]
pub struct HostRow {
    /// The host, or a pattern with `{label}` / `{account}` for one DNS label.
    pub pattern: &'static str,
    /// What it serves.
    pub kind: HostKind,
    /// Why a client calls it.
    pub note: &'static str,
}

const fn row(pattern: &'static str, kind: HostKind, note: &'static str) -> HostRow {
    HostRow {
        pattern,
        kind,
        note,
    }
}

/// Every emulated host, in the order the README lists them.
pub const TABLE: &[HostRow] = &[
    row(
        "login.microsoftonline.com",
        HostKind::Entra,
        "Entra ID: tokens, OpenID discovery, instance discovery, user realm, signing keys",
    ),
    row(
        "login.windows.net",
        HostKind::Entra,
        "Entra ID alias (older clients, token issuer aliases)",
    ),
    row("login.microsoft.com", HostKind::Entra, "Entra ID alias"),
    row(
        "sts.windows.net",
        HostKind::Entra,
        "Entra ID alias; the issuer of v1 tokens",
    ),
    row(
        "graph.microsoft.com",
        HostKind::Graph,
        "the OIDC userinfo endpoint discovery names",
    ),
    row(
        "lcsapi.lcs.dynamics.com",
        HostKind::Lcs,
        "LCS API, global / US geography (d365fo.tools' default)",
    ),
    row(
        "lcsapi.eu.lcs.dynamics.com",
        HostKind::Lcs,
        "LCS API, Europe",
    ),
    row(
        "lcsapi.fr.lcs.dynamics.com",
        HostKind::Lcs,
        "LCS API, France",
    ),
    row(
        "lcsapi.sa.lcs.dynamics.com",
        HostKind::Lcs,
        "LCS API, South Africa",
    ),
    row("lcsapi.uae.lcs.dynamics.com", HostKind::Lcs, "LCS API, UAE"),
    row(
        "lcsapi.ch.lcs.dynamics.com",
        HostKind::Lcs,
        "LCS API, Switzerland",
    ),
    row(
        "lcsapi.no.lcs.dynamics.com",
        HostKind::Lcs,
        "LCS API, Norway",
    ),
    row(
        "lcsapi.lcs.dynamics.cn",
        HostKind::Lcs,
        "LCS API, China (21Vianet)",
    ),
    row(
        "lcsapi.gov.lcs.microsoftdynamics.us",
        HostKind::Lcs,
        "LCS API, US Government",
    ),
    row(
        "api.bap.microsoft.com",
        HostKind::Bap,
        "BAP admin API (PowerShell admin module, Terraform provider, pac CLI)",
    ),
    row(
        "{label}.api.bap.microsoft.com",
        HostKind::Bap,
        "BAP's regional hosts, e.g. europe.api.bap.microsoft.com, which the real service's \
         Location headers name",
    ),
    row(
        "api.powerplatform.com",
        HostKind::PowerPlatform,
        "Power Platform API (Microsoft's SDKs, Terraform provider)",
    ),
    row(
        "{label}.{label}.environment.api.powerplatform.com",
        HostKind::PowerPlatform,
        "Power Platform API on an environment's own host",
    ),
    row(
        "{label}.{label}.tenant.api.powerplatform.com",
        HostKind::PowerPlatform,
        "Power Platform API on a tenant's own host",
    ),
    row(
        "{account}.blob.core.windows.net",
        HostKind::Blob,
        "the asset library's storage: the account is a tenant id without hyphens, or `shared` \
         for Microsoft's shared assets",
    ),
];

/// The account of Microsoft's shared assets (see [`HostKind::Blob`]).
pub const SHARED_ACCOUNT: &str = "shared";

/// Splits an authority (`host`, `host:port`, `[v6]:port`) into its lower-cased host (without a
/// trailing dot) and port. `None` when it is not an authority.
pub fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let authority = authority.trim();
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            Some(_) => return None,
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return None;
    }
    Some((host, port))
}

/// What `host` (lower case, no port) serves, if the simulator emulates it.
pub fn emulated(host: &str) -> Option<HostKind> {
    TABLE
        .iter()
        .find(|row| matches(row.pattern, host))
        .map(|row| row.kind)
}

/// The main host of a surface (for the blob service see [`blob_host`]).
pub fn canonical(kind: HostKind) -> &'static str {
    match kind {
        HostKind::Entra => "login.microsoftonline.com",
        HostKind::Graph => "graph.microsoft.com",
        HostKind::Lcs => "lcsapi.lcs.dynamics.com",
        HostKind::Bap => "api.bap.microsoft.com",
        HostKind::PowerPlatform => "api.powerplatform.com",
        HostKind::Blob => "blob.core.windows.net",
    }
}

/// The storage account a blob host names (`{account}.blob.core.windows.net`), if it is one.
pub fn blob_account(host: &str) -> Option<&str> {
    let account = host.strip_suffix(".blob.core.windows.net")?;
    is_account(account).then_some(account)
}

/// The host of a storage account's blob service.
pub fn blob_host(account: &str) -> String {
    format!("{account}.blob.core.windows.net")
}

/// BAP's regional host for a geography, e.g. `europe.api.bap.microsoft.com`.
pub fn bap_regional_host(geo: &str) -> String {
    format!("{}.api.bap.microsoft.com", geo.to_ascii_lowercase())
}

/// Whether `host` fits `pattern`, label by label.
fn matches(pattern: &str, host: &str) -> bool {
    let mut want = pattern.split('.');
    let mut have = host.split('.');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (Some("{label}"), Some(label)) if is_label(label) => {}
            (Some("{account}"), Some(label)) if is_account(label) => {}
            (Some(w), Some(h)) if w == h => {}
            _ => return false,
        }
    }
}

/// A DNS label: 1 to 63 letters, digits and inner hyphens.
fn is_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// A storage account the simulator hands out: a tenant's (32 hex digits) or the shared one.
fn is_account(label: &str) -> bool {
    label == SHARED_ACCOUNT || (label.len() == 32 && label.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_host_and_pattern_is_recognised() {
        for host in [
            "login.microsoftonline.com",
            "sts.windows.net",
            "graph.microsoft.com",
            "lcsapi.lcs.dynamics.com",
            "lcsapi.eu.lcs.dynamics.com",
            "api.bap.microsoft.com",
            "europe.api.bap.microsoft.com",
            "api.powerplatform.com",
            "000000000000000000000000000001.23.environment.api.powerplatform.com",
            "c0de000000004000800000000000001a.blob.core.windows.net",
            "shared.blob.core.windows.net",
        ] {
            assert!(emulated(host).is_some(), "{host}");
        }
        assert_eq!(
            emulated("europe.api.bap.microsoft.com"),
            Some(HostKind::Bap)
        );
        assert_eq!(emulated("sts.windows.net"), Some(HostKind::Entra));
    }

    #[test]
    fn other_hosts_and_near_misses_are_not_emulated() {
        for host in [
            "example.com",
            "microsoft.com",
            "bap.microsoft.com",
            "a.b.api.bap.microsoft.com",
            "-x.api.bap.microsoft.com",
            "api.bap.microsoft.com.evil.test",
            "someaccount.blob.core.windows.net",
            "management.azure.com",
            "127.0.0.1",
        ] {
            assert_eq!(emulated(host), None, "{host}");
        }
    }

    #[test]
    fn authorities_split_into_lower_case_host_and_port() {
        assert_eq!(
            split_authority("API.BAP.microsoft.com:443"),
            Some(("api.bap.microsoft.com".into(), Some(443)))
        );
        assert_eq!(
            split_authority("login.microsoftonline.com."),
            Some(("login.microsoftonline.com".into(), None))
        );
        assert_eq!(
            split_authority("[::1]:4747"),
            Some(("::1".into(), Some(4747)))
        );
        assert_eq!(split_authority("host:notaport"), None);
        assert_eq!(split_authority("host:70000"), None);
        assert_eq!(split_authority(""), None);
        assert_eq!(split_authority("a b:443"), None);
    }

    #[test]
    fn blob_hosts_name_their_account() {
        assert_eq!(
            blob_account("shared.blob.core.windows.net"),
            Some(SHARED_ACCOUNT)
        );
        assert_eq!(blob_account("nope.blob.core.windows.net"), None);
        assert_eq!(blob_host("shared"), "shared.blob.core.windows.net");
        assert_eq!(bap_regional_host("Europe"), "europe.api.bap.microsoft.com");
    }
}
