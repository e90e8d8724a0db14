//! The simulator's certificate authority and the certificate it signs for each emulated host.
//!
//! The CA is an ECDSA P-256 key with a self-signed certificate, name-constrained to the domains
//! of [`super::hosts::TABLE`], so trusting it can never vouch for another site. It is made at
//! start in memory, or kept in a directory (`--tls-ca-dir`: `ca.pem` and `ca-key.pem`, the key
//! readable by its owner only) so that a machine or an image trusts it once. Each host's
//! certificate (one shared leaf key, a certificate per name) is minted on first use and kept,
//! with its rustls configuration, for the rest of the run.

use super::hosts;
use crate::clock;
use parking_lot::Mutex;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SerialNumber,
};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The CA certificate's file in a `--tls-ca-dir`.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA key's file in a `--tls-ca-dir` (PKCS#8 PEM, mode 0600).
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// How long a CA made by the simulator is valid.
const CA_YEARS: i16 = 10;
/// How long a host certificate is valid (the longest public CAs may issue).
const LEAF_DAYS: i64 = 397;
/// How many host configurations are kept; past it the cache starts again (hosts with a
/// `{label}` are unbounded in principle).
const MAX_CACHED_HOSTS: usize = 4096;
/// The DNS suffixes the CA may vouch for: every emulated host ends in one of these.
const PERMITTED_SUFFIXES: &[&str] = &[
    "login.microsoftonline.com",
    "login.windows.net",
    "login.microsoft.com",
    "sts.windows.net",
    "graph.microsoft.com",
    "lcs.dynamics.com",
    "lcs.dynamics.cn",
    "lcs.microsoftdynamics.us",
    "api.bap.microsoft.com",
    "api.powerplatform.com",
    "blob.core.windows.net",
];
/// ALPN protocols offered, in preference order.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why the CA could not be made, read or written, or a host certificate not minted.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A CA file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The CA directory's files are not a CA the simulator can use.
    #[error("{0}")]
    InvalidCa(String),
    /// Making a certificate failed.
    #[error("could not make a certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("could not configure TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Where the CA came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaOrigin {
    /// Made at start, in memory only.
    Generated,
    /// Made at start and written to this directory.
    Created(PathBuf),
    /// Read from this directory.
    Loaded(PathBuf),
}

/// The CA and the host certificates it has signed.
pub struct Authority {
    /// The CA certificate, PEM (what clients trust).
    ca_pem: String,
    /// The CA's subject common name, to tell one simulator's CA from another's.
    ca_name: String,
    /// Signs host certificates.
    issuer: Issuer<'static, KeyPair>,
    /// The one key every host certificate certifies.
    leaf_key: KeyPair,
    /// Where the CA came from.
    origin: CaOrigin,
    /// rustls with ring, TLS 1.2 and 1.3.
    provider: Arc<CryptoProvider>,
    /// Each host's configuration, minted on first use. A sync lock held for a lookup, or for
    /// the one signature minting a host costs (well under a millisecond).
    configs: Mutex<HashMap<String, Arc<ServerConfig>>>,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("ca_name", &self.ca_name)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// A CA made now, in memory, or kept in `dir` (read when its files exist, else made and
    /// written there).
    pub fn new(dir: Option<&Path>) -> Result<Authority, TlsError> {
        match dir {
            None => {
                let (cert, key) = generate_ca()?;
                Authority::assemble(cert, key, CaOrigin::Generated)
            }
            Some(dir) => Authority::in_dir(dir),
        }
    }

    fn in_dir(dir: &Path) -> Result<Authority, TlsError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => {
                let read = |path: &Path| {
                    std::fs::read_to_string(path).map_err(|source| TlsError::Io {
                        path: path.to_path_buf(),
                        source,
                    })
                };
                let (cert, key) = (read(&cert_path)?, read(&key_path)?);
                let key = KeyPair::from_pem(&key).map_err(|e| {
                    TlsError::InvalidCa(format!(
                        "{} is not a PEM private key ({e}); delete both {CA_CERT_FILE} and \
                         {CA_KEY_FILE} to have a new CA made",
                        key_path.display()
                    ))
                })?;
                if !certifies(&cert, &key) {
                    return Err(TlsError::InvalidCa(format!(
                        "{} is not the certificate lifecycle-sim made for {}; delete both \
                         {CA_CERT_FILE} and {CA_KEY_FILE} to have a new CA made",
                        cert_path.display(),
                        key_path.display()
                    )));
                }
                Authority::assemble(cert, key, CaOrigin::Loaded(dir.to_path_buf()))
            }
            (false, false) => {
                std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
                let (cert, key) = generate_ca()?;
                write_private(&key_path, &key.serialize_pem())?;
                std::fs::write(&cert_path, &cert).map_err(|source| TlsError::Io {
                    path: cert_path.clone(),
                    source,
                })?;
                Authority::assemble(cert, key, CaOrigin::Created(dir.to_path_buf()))
            }
            (has_cert, _) => Err(TlsError::InvalidCa(format!(
                "{} has {} but not {}: both are needed. Restore the missing file, or delete the \
                 other to have a new CA made (clients must then trust the new one)",
                dir.display(),
                if has_cert { CA_CERT_FILE } else { CA_KEY_FILE },
                if has_cert { CA_KEY_FILE } else { CA_CERT_FILE },
            ))),
        }
    }

    fn assemble(ca_pem: String, ca_key: KeyPair, origin: CaOrigin) -> Result<Authority, TlsError> {
        // The CA's name and key identifier follow from its key, so its issuer is rebuilt from
        // the key alone, as the certificate has them.
        let ca_name = ca_common_name(&ca_key);
        let issuer = Issuer::new(ca_params(&ca_key), ca_key);
        let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        Ok(Authority {
            ca_pem,
            ca_name,
            issuer,
            leaf_key,
            origin,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            configs: Mutex::new(HashMap::new()),
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA's common name (`lifecycle-sim CA` and a random tag).
    pub fn ca_name(&self) -> &str {
        &self.ca_name
    }

    /// Where the CA came from.
    pub fn origin(&self) -> &CaOrigin {
        &self.origin
    }

    /// The TLS configuration that presents `host`'s certificate; minted on first use. `host`
    /// must be emulated ([`hosts::emulated`]): the CA vouches for nothing else.
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, TlsError> {
        if let Some(config) = self.configs.lock().get(host) {
            return Ok(config.clone());
        }
        if hosts::emulated(host).is_none() {
            return Err(TlsError::InvalidCa(format!(
                "{host} is not an emulated host; the CA signs certificates for those only"
            )));
        }
        let config = Arc::new(self.mint(host)?);
        let mut configs = self.configs.lock();
        if configs.len() >= MAX_CACHED_HOSTS {
            configs.clear();
        }
        Ok(configs.entry(host.to_string()).or_insert(config).clone())
    }

    /// A configuration with no certificate: its handshakes end in an alert. For clients whose
    /// SNI names no emulated host.
    pub fn refusing_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(NoCertificate));
        Ok(Arc::new(config))
    }

    fn mint(&self, host: &str) -> Result<ServerConfig, TlsError> {
        let mut params = CertificateParams::new(vec![host.to_string()])?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, host);
        params.distinguished_name = name;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        set_validity(&mut params, LEAF_DAYS);
        let cert = params.signed_by(&self.leaf_key, &self.issuer)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()));
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], key)?;
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}

/// A resolver that never has a certificate.
#[derive(Debug)]
struct NoCertificate;

impl rustls::server::ResolvesServerCert for NoCertificate {
    fn resolve(
        &self,
        _: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        None
    }
}

/// The CA's common name: `lifecycle-sim CA` and a tag from its public key, so that one
/// simulator's CA is told from another's, and the name can be rebuilt from the key.
fn ca_common_name(key: &KeyPair) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, key.public_key_raw());
    let tag: String = digest.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("lifecycle-sim CA {tag}")
}

/// What the CA's certificate says besides serial and validity.
fn ca_params(key: &KeyPair) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, ca_common_name(key));
    name.push(DnType::OrganizationName, "lifecycle-sim");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: PERMITTED_SUFFIXES
            .iter()
            .map(|s| GeneralSubtree::DnsName((*s).to_string()))
            .collect(),
        excluded_subtrees: Vec::new(),
    });
    params
}

/// A new CA: certificate PEM and key.
fn generate_ca() -> Result<(String, KeyPair), TlsError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = ca_params(&key);
    params.serial_number = Some(random_serial());
    set_validity(&mut params, i64::from(CA_YEARS) * 365);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key))
}

/// Whether `pem` is a certificate of `key` with the name lifecycle-sim gives it: its DER holds
/// the key's public point and that name (host certificates are issued under both).
fn certifies(pem: &str, key: &KeyPair) -> bool {
    use rustls::pki_types::pem::PemObject;
    let Ok(der) = CertificateDer::from_pem_slice(pem.as_bytes()) else {
        return false;
    };
    let contains = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
    contains(key.public_key_raw()) && contains(ca_common_name(key).as_bytes())
}

/// Valid from a day ago (clients' clocks may lag) to `days` from now, by the wall clock.
fn set_validity(params: &mut CertificateParams, days: i64) {
    let day = |offset: i64| {
        let moment = clock::wall_now() + jiff::SignedDuration::from_hours(24 * offset);
        let date = jiff::tz::TimeZone::UTC.to_datetime(moment).date();
        rcgen::date_time_ymd(
            i32::from(date.year()),
            date.month().unsigned_abs(),
            date.day().unsigned_abs(),
        )
    };
    params.not_before = day(-1);
    params.not_after = day(days);
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive and never zero-led, so every encoder agrees on its length.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

/// Writes a secret file readable by its owner only (created that way, never widened after).
fn write_private(path: &Path, text: &str) -> Result<(), TlsError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let io = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = options.open(path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_directory_is_written_once_and_read_back() {
        let dir = std::env::temp_dir().join(format!("lsim-ca-{}", rand::random::<u64>()));
        let first = Authority::new(Some(&dir)).unwrap();
        assert_eq!(first.origin(), &CaOrigin::Created(dir.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(CA_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = Authority::new(Some(&dir)).unwrap();
        assert_eq!(second.origin(), &CaOrigin::Loaded(dir.clone()));
        assert_eq!(first.ca_pem(), second.ca_pem());
        assert_eq!(first.ca_name(), second.ca_name());
        assert!(second.server_config("api.bap.microsoft.com").is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_half_present_or_broken_ca_directory_is_refused_with_the_way_out() {
        let dir = std::env::temp_dir().join(format!("lsim-ca-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(CA_CERT_FILE), "x").unwrap();
        let e = Authority::new(Some(&dir)).unwrap_err().to_string();
        assert!(e.contains("but not ca-key.pem"), "{e}");
        std::fs::write(dir.join(CA_KEY_FILE), "not a key").unwrap();
        let e = Authority::new(Some(&dir)).unwrap_err().to_string();
        assert!(e.contains("is not a PEM private key"), "{e}");
        // Another CA's certificate beside this key.
        let (other, key) = (generate_ca().unwrap().0, generate_ca().unwrap().1);
        std::fs::write(dir.join(CA_CERT_FILE), other).unwrap();
        std::fs::write(dir.join(CA_KEY_FILE), key.serialize_pem()).unwrap();
        let e = Authority::new(Some(&dir)).unwrap_err().to_string();
        assert!(
            e.contains("is not the certificate lifecycle-sim made"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn host_certificates_are_minted_once_and_only_for_emulated_hosts() {
        let ca = Authority::new(None).unwrap();
        let a = ca.server_config("login.microsoftonline.com").unwrap();
        let b = ca.server_config("login.microsoftonline.com").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(ca.server_config("example.com").is_err());
        assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(ca.ca_name().starts_with("lifecycle-sim CA "));
    }

    #[test]
    fn the_ca_may_vouch_for_every_emulated_host_pattern() {
        for row in hosts::TABLE {
            let sample = row
                .pattern
                .replace("{account}", hosts::SHARED_ACCOUNT)
                .replace("{label}", "x1");
            assert!(
                PERMITTED_SUFFIXES
                    .iter()
                    .any(|s| sample == *s || sample.ends_with(&format!(".{s}"))),
                "{sample} is outside the CA's name constraints"
            );
        }
    }
}
