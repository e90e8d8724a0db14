//! The simulator's bearer tokens: their claims as Entra ID writes them, and the signer that
//! issues and checks them with the process's RSA key ([`crate::signing`]). Below every surface:
//! the fake Entra ID issues tokens with it, every portal API checks them with it.

use crate::error::SimError;
use crate::signing::TokenKey;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use uuid::Uuid;

/// What a token is for; only access tokens open the portal APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenUse {
    /// Sent as `Authorization: Bearer`.
    Access,
    /// Exchanged for new tokens.
    Refresh,
    /// Describes the user to the client.
    Id,
}

/// The claims of every token the simulator issues: Entra's, by token version (v1: `upn`,
/// `unique_name`, `appid`, `appidacr`; v2: `preferred_username`, `azp`, `azpacr`), plus `lsim_*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Audience: the resource the token is for.
    pub aud: String,
    /// Issuer, in Entra's v1 or v2 form.
    pub iss: String,
    /// Issued at (virtual Unix seconds).
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
    /// Display name (users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Object id of the user or service principal.
    pub oid: Uuid,
    /// Subject (the object id here).
    pub sub: String,
    /// Tenant id.
    pub tid: Uuid,
    /// UPN (users, v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// UPN again, as v1 tokens carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    /// The user's sign-in name (users, v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// Client id of the application that asked for the token (v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// How that application authenticated (v1): `0` public client, `1` client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appidacr: Option<String>,
    /// Client id of the application that asked for the token (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// How that application authenticated (v2), as `appidacr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azpacr: Option<String>,
    /// `user` or `app`.
    pub idtyp: String,
    /// Delegated scopes (users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// `1.0` or `2.0`.
    pub ver: String,
    /// What this token is for.
    pub lsim_use: TokenUse,
    /// The simulator that issued it: simulators in one process share a signing key, and a
    /// token opens only its own simulator.
    pub lsim_run: String,
    /// Refresh tokens: the resource (v1) or scope (v2) of the original request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lsim_resource: Option<String>,
}

impl Claims {
    /// The client id of the application the token was issued to.
    pub fn client_id(&self) -> Option<&str> {
        self.appid.as_deref().or(self.azp.as_deref())
    }
}

/// How many verified tokens [`TokenSigner`] remembers (checking an RSA signature costs tens of
/// microseconds; clients send the same token many times).
const VERIFIED_CACHE: usize = 4096;

/// Signs tokens with the process's RSA key ([`TokenKey`]) and checks them, remembering the
/// tokens it has checked.
pub struct TokenSigner {
    key: TokenKey,
    /// This simulator's run id, in every token it issues (random, never from the seed).
    run: String,
    /// Tokens already checked, with their claims. A sync lock held for one lookup or insert;
    /// cleared when full.
    verified: parking_lot::Mutex<HashMap<Box<str>, Arc<Claims>>>,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSigner { .. }")
    }
}

impl Default for TokenSigner {
    fn default() -> Self {
        TokenSigner::new()
    }
}

impl TokenSigner {
    /// A signer with the process's key and a new run id.
    pub fn new() -> TokenSigner {
        TokenSigner {
            key: TokenKey::shared(),
            run: Uuid::from_u128(rand::random()).simple().to_string(),
            verified: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// This simulator's run id, for the claims of a new token.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// The signing key (for the discovery key sets).
    pub fn key(&self) -> &TokenKey {
        &self.key
    }

    /// Signs `claims` into a JWT (RS256, with the key's `kid`).
    pub fn sign(&self, claims: &Claims) -> Result<String, SimError> {
        self.key
            .sign(claims)
            .map_err(|e| SimError::internal(format!("could not sign a token: {e}")))
    }

    /// The claims of a token this simulator issued, or `None`.
    pub fn verify(&self, token: &str) -> Option<Arc<Claims>> {
        if let Some(claims) = self.verified.lock().get(token) {
            return Some(claims.clone());
        }
        let claims = Arc::new(self.key.verify::<Claims>(token)?);
        if claims.lsim_run != self.run {
            return None;
        }
        let mut verified = self.verified.lock();
        if verified.len() >= VERIFIED_CACHE {
            verified.clear();
        }
        verified.insert(token.into(), claims.clone());
        Some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_open_only_the_simulator_that_issued_them() {
        let signer = TokenSigner::new();
        let other = TokenSigner::new();
        let claims = |run: &str| Claims {
            aud: "a".into(),
            iss: "i".into(),
            iat: 1,
            nbf: 1,
            exp: 2,
            name: None,
            oid: Uuid::nil(),
            sub: "s".into(),
            tid: Uuid::nil(),
            upn: None,
            unique_name: None,
            preferred_username: None,
            appid: None,
            appidacr: None,
            azp: Some("c".into()),
            azpacr: None,
            idtyp: "user".into(),
            scp: None,
            ver: "2.0".into(),
            lsim_use: TokenUse::Access,
            lsim_run: run.into(),
            lsim_resource: None,
        };
        let mine = claims(signer.run());
        let token = signer.sign(&mine).unwrap();
        assert_eq!(signer.verify(&token).as_deref(), Some(&mine));
        // Cached the second time, with the same answer.
        assert_eq!(signer.verify(&token).as_deref(), Some(&mine));
        assert_eq!(mine.client_id(), Some("c"));
        assert!(other.verify(&token).is_none(), "same key, other simulator");
        assert!(signer.verify("not.a.token").is_none());
    }
}
