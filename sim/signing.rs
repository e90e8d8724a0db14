//! The key that signs the simulator's tokens, as Entra ID signs its own: RS256 (RSA 2048,
//! PKCS#1 v1.5, SHA-256), the key's id in every token's header (`kid`, and `x5t` as v1 tokens
//! carry it), and the public half published as a JSON Web Key Set with its certificate (`x5c`),
//! so that a client which validates its tokens finds the key and passes.
//!
//! The key is drawn from the operating system's random source, never from the seed, so nobody
//! can rebuild it from what the simulator tells about itself. Making an RSA key takes a tenth
//! of a second or more, so there is one per process ([`TokenKey::shared`]), made when it is
//! first needed (the first token, or the first key set), on a blocking thread: start-up never
//! waits for it, and a process that issues no token never makes one. Simulators sharing a
//! process tell their tokens apart by a run id they carry (see `api::auth`).
//!
//! Signing and checking use ring; the key is made with the `rsa` crate (ring cannot make RSA
//! keys) and handed over as PKCS#8.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt;
use std::sync::{Arc, OnceLock};

/// Bits of the RSA modulus, as Entra's keys have.
const RSA_BITS: usize = 2048;

/// The run's token key; cheap to clone (the key is shared).
#[derive(Clone)]
pub struct TokenKey {
    /// Filled once, by the first caller that needs the key.
    cell: Arc<OnceLock<Result<Keys, String>>>,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey { .. }")
    }
}

/// The key and what is derived from it once.
struct Keys {
    pair: RsaKeyPair,
    public: UnparsedPublicKey<Vec<u8>>,
    /// `base64url(header)`, the same for every token.
    header: String,
    /// The key's id: its certificate's SHA-1 thumbprint, base64url (Entra's `kid` = `x5t`).
    kid: String,
    /// The public key as a JWK, without `issuer` (which depends on the key set's tenant).
    jwk: Value,
    rng: SystemRandom,
}

/// The process's key, see [`TokenKey::shared`].
static SHARED: OnceLock<TokenKey> = OnceLock::new();

impl TokenKey {
    /// The process's key (made when first needed).
    pub fn shared() -> TokenKey {
        SHARED.get_or_init(TokenKey::generate).clone()
    }

    /// A key of its own, made when first needed.
    pub fn generate() -> TokenKey {
        TokenKey {
            cell: Arc::new(OnceLock::new()),
        }
    }

    /// The key, made now if it is not yet (blocking this thread meanwhile).
    fn keys(&self) -> Result<&Keys, String> {
        self.cell
            .get_or_init(Keys::generate)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Completes once the key exists (at once, after the first time), making it on a blocking
    /// thread so that the async runtime's threads go on serving meanwhile.
    pub async fn ready(&self) {
        if self.cell.get().is_some() {
            return;
        }
        let cell = self.cell.clone();
        let _ = tokio::task::spawn_blocking(move || {
            cell.get_or_init(Keys::generate);
        })
        .await;
    }

    /// A compact JWS of `claims`: `header.payload.signature`.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String, String> {
        let keys = self.keys()?;
        let payload = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
        let mut token = String::with_capacity(keys.header.len() + payload.len() * 4 / 3 + 350);
        token.push_str(&keys.header);
        token.push('.');
        B64URL.encode_string(&payload, &mut token);
        let mut sig = vec![0; keys.pair.public().modulus_len()];
        keys.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &keys.rng,
                token.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "the RSA signature failed".to_string())?;
        token.push('.');
        B64URL.encode_string(&sig, &mut token);
        Ok(token)
    }

    /// The claims of a token this key signed, or `None` (another key, another header, a
    /// broken signature, or claims that are not a `T`).
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Option<T> {
        // Until the key exists, nothing can have been signed with it.
        let keys = self.cell.get()?.as_ref().ok()?;
        let (signed, sig) = token.rsplit_once('.')?;
        let (header, payload) = signed.split_once('.')?;
        if header != keys.header {
            return None;
        }
        let sig = B64URL.decode(sig).ok()?;
        keys.public.verify(signed.as_bytes(), &sig).ok()?;
        let payload = B64URL.decode(payload).ok()?;
        serde_json::from_slice(&payload).ok()
    }

    /// The key's id, as tokens' headers carry it.
    pub fn kid(&self) -> Result<String, String> {
        Ok(self.keys()?.kid.clone())
    }

    /// The JSON Web Key Set of `GET …/discovery/keys`, each key naming `issuer` when given (as
    /// Entra's v2 key sets do).
    pub fn jwks(&self, issuer: Option<&str>) -> Result<Value, String> {
        let mut jwk = self.keys()?.jwk.clone();
        if let Some(issuer) = issuer {
            jwk["issuer"] = json!(issuer);
        }
        Ok(json!({ "keys": [jwk] }))
    }
}

impl Keys {
    fn generate() -> Result<Keys, String> {
        use rsa::pkcs1::EncodeRsaPublicKey;
        use rsa::pkcs8::EncodePrivateKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS)
            .map_err(|e| format!("could not make the token signing key: {e}"))?;
        let pkcs8 = key
            .to_pkcs8_der()
            .map_err(|e| format!("could not encode the token signing key: {e}"))?;
        let public = key
            .to_public_key()
            .to_pkcs1_der()
            .map_err(|e| format!("could not encode the token signing key: {e}"))?;
        let pair = RsaKeyPair::from_pkcs8(pkcs8.as_bytes())
            .map_err(|e| format!("the token signing key was refused: {e}"))?;
        let cert = certificate(pkcs8.as_bytes())?;
        let thumbprint = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert);
        let kid = B64URL.encode(thumbprint.as_ref());
        let header = B64URL
            .encode(json!({"typ": "JWT", "alg": "RS256", "x5t": kid, "kid": kid}).to_string());
        let jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "kid": kid,
            "x5t": kid,
            "n": B64URL.encode(key.n().to_bytes_be()),
            "e": B64URL.encode(key.e().to_bytes_be()),
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&cert)],
        });
        Ok(Keys {
            pair,
            public: UnparsedPublicKey::new(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                public.as_bytes().to_vec(),
            ),
            header,
            kid,
            jwk,
            rng: SystemRandom::new(),
        })
    }
}

/// A self-signed certificate of the key (Entra publishes one per key as `x5c`), DER.
fn certificate(pkcs8: &[u8]) -> Result<Vec<u8>, String> {
    let fail = |e: rcgen::Error| format!("could not certify the token signing key: {e}");
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls::pki_types::PrivatePkcs8KeyDer::from(pkcs8),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(fail)?;
    let mut params = rcgen::CertificateParams::default();
    let mut name = rcgen::DistinguishedName::new();
    name.push(
        rcgen::DnType::CommonName,
        "accounts.accesscontrol.windows.net",
    );
    params.distinguished_name = name;
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2030, 1, 1);
    Ok(params.self_signed(&key).map_err(fail)?.der().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Claims {
        aud: String,
        n: u32,
    }

    #[test]
    fn tokens_round_trip_and_reject_other_keys_and_tampering() {
        let key = TokenKey::generate();
        let other = TokenKey::generate();
        let claims = Claims {
            aud: "a".into(),
            n: 1,
        };
        let token = key.sign(&claims).unwrap();
        assert_eq!(key.verify::<Claims>(&token), Some(claims));
        assert_eq!(other.verify::<Claims>(&token), None);
        let (signed, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{signed}.{}", B64URL.encode([0u8; 256]));
        assert_eq!(key.verify::<Claims>(&forged), None);
        let (_, rest) = token.split_once('.').unwrap();
        let none = format!("{}.{rest}", B64URL.encode(r#"{"alg":"none"}"#));
        assert_eq!(key.verify::<Claims>(&none), None);
        assert_eq!(key.verify::<Claims>("not.a.token"), None);
    }

    #[test]
    fn the_key_set_describes_the_signing_key() {
        let key = TokenKey::generate();
        let jwks = key.jwks(Some("https://issuer")).unwrap();
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["alg"], Value::Null);
        assert_eq!(jwk["kid"], json!(key.kid().unwrap()));
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(jwk["issuer"], "https://issuer");
        let n = B64URL.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), RSA_BITS / 8);
        let token = key.sign(&json!({"a": 1})).unwrap();
        let header: Value =
            serde_json::from_slice(&B64URL.decode(token.split('.').next().unwrap()).unwrap())
                .unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], jwk["kid"]);
    }
}
