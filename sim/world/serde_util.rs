//! Serde helpers for the tenant snapshot: maps with composite keys as lists of entries, bytes as
//! base64 text, and `'static` names looked up in their catalogue.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// A `BTreeMap` as a list of `[key, value]` entries (keys that are not strings, e.g. tuples).
pub mod entries {
    use super::*;

    /// Writes the entries in key order.
    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    /// Reads the entries back.
    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// Bytes as standard base64 text.
pub mod base64_bytes {
    use super::*;

    /// Writes base64.
    pub fn serialize<S: Serializer>(bytes: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    /// Reads base64.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map(Bytes::from)
            .map_err(|e| D::Error::custom(format!("not base64: {e}")))
    }
}

/// A `BTreeMap<String, Bytes>` with base64 values.
pub mod base64_map {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct B64(#[serde(with = "base64_bytes")] Bytes);

    /// Writes base64 values.
    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, Bytes>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(map.iter().map(|(k, v)| (k, B64(v.clone()))))
    }

    /// Reads base64 values.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Bytes>, D::Error> {
        Ok(BTreeMap::<String, B64>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect())
    }
}

/// A ChaCha RNG as its seed (hex), stream and position: enough to continue the same sequence.
pub mod chacha {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Position {
        seed: String,
        stream: u64,
        word_pos: String,
    }

    /// Writes the position.
    pub fn serialize<S: Serializer>(rng: &ChaCha8Rng, s: S) -> Result<S::Ok, S::Error> {
        let seed: String = rng.get_seed().iter().map(|b| format!("{b:02x}")).collect();
        Position {
            seed,
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
        .serialize(s)
    }

    /// Reads a position back.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ChaCha8Rng, D::Error> {
        let p = Position::deserialize(d)?;
        let bytes: Vec<u8> = (0..p.seed.len())
            .step_by(2)
            .map(|i| {
                p.seed
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<_>>()
            .ok_or_else(|| D::Error::custom("the RNG seed is 64 hex digits"))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| D::Error::custom("the RNG seed is 64 hex digits"))?;
        let word_pos: u128 = p
            .word_pos
            .parse()
            .map_err(|_| D::Error::custom("the RNG position is a whole number"))?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(p.stream);
        rng.set_word_pos(word_pos);
        Ok(rng)
    }
}
