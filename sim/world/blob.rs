//! A tenant's block-blob storage: what the LCS asset library hands out SAS URLs to.
//!
//! Models the part of Azure Blob Storage that asset uploads and downloads use: Put Blob (one
//! shot), Put Block + Put Block List (staged uploads, as storage SDKs do for large files), and
//! reads. Containers exist implicitly. No HTTP here: `api::blob` speaks the wire protocol and
//! checks the SAS.

use crate::error::{ErrorCode, SimError};
use bytes::{Bytes, BytesMut};
use jiff::Timestamp;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};

/// Azure's limit on uncommitted blocks per blob.
pub const MAX_UNCOMMITTED_BLOCKS: usize = 100_000;
/// Azure's limit on committed blocks per blob.
pub const MAX_BLOCKS: usize = 50_000;
/// Longest block id Azure accepts (decoded, in bytes).
pub const MAX_BLOCK_ID_BYTES: usize = 64;

/// A committed blob.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    /// Content.
    #[serde(with = "super::serde_util::base64_bytes")]
    pub data: Bytes,
    /// `Content-Type` given at upload.
    pub content_type: Option<String>,
    /// When the blob was first created.
    pub created: Timestamp,
    /// When its content last changed.
    pub modified: Timestamp,
    /// Changes with every write.
    pub etag: String,
    /// The committed block list (id, size), empty for blobs written in one shot.
    pub blocks: Vec<(String, usize)>,
}

impl Blob {
    /// Content and properties without the committed block list, which can hold 50,000 entries:
    /// what a read or a write answer needs, cheap to copy out of the locked store.
    pub fn properties(&self) -> Blob {
        Blob {
            data: self.data.clone(),
            content_type: self.content_type.clone(),
            created: self.created,
            modified: self.modified,
            etag: self.etag.clone(),
            blocks: Vec::new(),
        }
    }
}

/// Which list a block in a Put Block List request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSource {
    /// Uncommitted first, then committed (`<Latest>`).
    Latest,
    /// The committed list (`<Committed>`).
    Committed,
    /// The uncommitted list (`<Uncommitted>`).
    Uncommitted,
}

/// Blobs by (container, name), plus staged blocks.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobStore {
    #[serde(with = "super::serde_util::entries")]
    blobs: BTreeMap<(String, String), Blob>,
    #[serde(with = "staged_entries")]
    staged: BTreeMap<(String, String), BTreeMap<String, Bytes>>,
    writes: u64,
}

/// Staged blocks as entries with base64 contents.
mod staged_entries {
    use super::super::serde_util::base64_map;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    type Staged = BTreeMap<(String, String), BTreeMap<String, Bytes>>;

    #[derive(Serialize, Deserialize)]
    struct Blocks(#[serde(with = "base64_map")] BTreeMap<String, Bytes>);

    pub fn serialize<S: Serializer>(staged: &Staged, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(staged.iter().map(|(k, v)| (k, Blocks(v.clone()))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Staged, D::Error> {
        Ok(Vec::<((String, String), Blocks)>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect())
    }
}

impl BlobStore {
    /// The blob, if it exists.
    pub fn get(&self, container: &str, name: &str) -> Option<&Blob> {
        self.blobs.get(&(container.to_string(), name.to_string()))
    }

    /// Whether the blob exists.
    pub fn exists(&self, container: &str, name: &str) -> bool {
        self.get(container, name).is_some()
    }

    /// Writes a whole blob (Put Blob); replaces any previous content and staged blocks.
    pub fn put(
        &mut self,
        container: &str,
        name: &str,
        data: Bytes,
        content_type: Option<String>,
        now: Timestamp,
    ) -> &Blob {
        let key = (container.to_string(), name.to_string());
        self.staged.remove(&key);
        self.commit(key, data, content_type, Vec::new(), now)
    }

    /// Stages a block (Put Block) for a later Put Block List.
    pub fn stage_block(
        &mut self,
        container: &str,
        name: &str,
        block_id: &str,
        data: Bytes,
    ) -> Result<(), SimError> {
        check_block_id(block_id)?;
        let staged = self
            .staged
            .entry((container.to_string(), name.to_string()))
            .or_default();
        if staged.len() >= MAX_UNCOMMITTED_BLOCKS && !staged.contains_key(block_id) {
            return Err(SimError::new(
                ErrorCode::InvalidBlobRequest,
                format!(
                    "The blob already has {MAX_UNCOMMITTED_BLOCKS} uncommitted blocks; commit them \
                     with Put Block List first"
                ),
            ));
        }
        staged.insert(block_id.to_string(), data);
        Ok(())
    }

    /// Commits a block list (Put Block List): the blob becomes the named blocks in order.
    pub fn commit_block_list(
        &mut self,
        container: &str,
        name: &str,
        list: &[(BlockSource, String)],
        content_type: Option<String>,
        now: Timestamp,
    ) -> Result<&Blob, SimError> {
        if list.len() > MAX_BLOCKS {
            return Err(SimError::new(
                ErrorCode::InvalidBlobRequest,
                format!("A block list may name at most {MAX_BLOCKS} blocks"),
            )
            .at("BlockList"));
        }
        let key = (container.to_string(), name.to_string());
        let empty = BTreeMap::new();
        let staged = self.staged.get(&key).unwrap_or(&empty);
        let committed: HashMap<&str, (usize, usize)> = {
            let mut offset = 0;
            let mut map = HashMap::new();
            if let Some(blob) = self.blobs.get(&key) {
                for (id, len) in &blob.blocks {
                    map.insert(id.as_str(), (offset, *len));
                    offset += len;
                }
            }
            map
        };
        let old = self.blobs.get(&key).map(|b| b.data.clone());
        let mut data = BytesMut::new();
        let mut blocks = Vec::with_capacity(list.len());
        for (source, id) in list {
            let from_staged = || staged.get(id.as_str()).cloned();
            let from_committed = || {
                committed
                    .get(id.as_str())
                    .and_then(|(offset, len)| old.as_ref().map(|d| d.slice(*offset..offset + len)))
            };
            let block = match source {
                BlockSource::Latest => from_staged().or_else(from_committed),
                BlockSource::Committed => from_committed(),
                BlockSource::Uncommitted => from_staged(),
            };
            let block = block.ok_or_else(|| {
                SimError::new(
                    ErrorCode::InvalidBlobRequest,
                    format!(
                        "The specified block list is invalid: block '{id}' is not in the {} list \
                         of blob '{container}/{name}'. Upload it with Put Block first",
                        match source {
                            BlockSource::Committed => "committed",
                            BlockSource::Uncommitted => "uncommitted",
                            BlockSource::Latest => "uncommitted or committed",
                        }
                    ),
                )
                .at("BlockList")
            })?;
            blocks.push((id.clone(), block.len()));
            data.extend_from_slice(&block);
        }
        self.staged.remove(&key);
        Ok(self.commit(key, data.freeze(), content_type, blocks, now))
    }

    /// Removes a blob and its staged blocks; whether it existed.
    pub fn delete(&mut self, container: &str, name: &str) -> bool {
        let key = (container.to_string(), name.to_string());
        self.staged.remove(&key);
        self.blobs.remove(&key).is_some()
    }

    /// Bytes held by committed blobs.
    pub fn stored_bytes(&self) -> usize {
        self.blobs.values().map(|b| b.data.len()).sum()
    }

    fn commit(
        &mut self,
        key: (String, String),
        data: Bytes,
        content_type: Option<String>,
        blocks: Vec<(String, usize)>,
        now: Timestamp,
    ) -> &Blob {
        self.writes += 1;
        let etag = format!("\"0x8D{:014X}\"", self.writes);
        let created = self.blobs.get(&key).map_or(now, |b| b.created);
        let blob = Blob {
            data,
            content_type,
            created,
            modified: now,
            etag,
            blocks,
        };
        match self.blobs.entry(key) {
            Entry::Occupied(mut slot) => {
                slot.insert(blob);
                slot.into_mut()
            }
            Entry::Vacant(slot) => slot.insert(blob),
        }
    }
}

fn check_block_id(id: &str) -> Result<(), SimError> {
    if id.is_empty() || id.len() > MAX_BLOCK_ID_BYTES * 4 / 3 + 4 {
        return Err(SimError::new(
            ErrorCode::InvalidBlobRequest,
            format!(
                "The block id '{id}' is invalid: block ids are Base64 strings of at most \
                 {MAX_BLOCK_ID_BYTES} bytes"
            ),
        )
        .at("blockid"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Timestamp {
        Timestamp::UNIX_EPOCH
    }

    #[test]
    fn staged_blocks_commit_in_list_order() -> Result<(), SimError> {
        let mut store = BlobStore::default();
        store.stage_block("c", "b", "QQ==", Bytes::from_static(b"hello "))?;
        store.stage_block("c", "b", "Qg==", Bytes::from_static(b"world"))?;
        assert!(!store.exists("c", "b"), "staged blocks are not a blob yet");
        let list = [
            (BlockSource::Latest, "QQ==".to_string()),
            (BlockSource::Uncommitted, "Qg==".to_string()),
        ];
        let blob = store.commit_block_list("c", "b", &list, None, t())?;
        assert_eq!(&blob.data[..], b"hello world");
        // Re-commit reusing a committed block, dropping the other.
        let blob = store.commit_block_list(
            "c",
            "b",
            &[(BlockSource::Committed, "Qg==".to_string())],
            None,
            t(),
        )?;
        assert_eq!(&blob.data[..], b"world");
        Ok(())
    }

    #[test]
    fn unknown_blocks_are_refused_and_change_nothing() -> Result<(), SimError> {
        let mut store = BlobStore::default();
        store.put("c", "b", Bytes::from_static(b"old"), None, t());
        let err = store
            .commit_block_list(
                "c",
                "b",
                &[(BlockSource::Latest, "bm9wZQ==".to_string())],
                None,
                t(),
            )
            .err();
        assert_eq!(err.map(|e| e.code), Some(ErrorCode::InvalidBlobRequest));
        assert_eq!(store.get("c", "b").map(|b| &b.data[..]), Some(&b"old"[..]));
        Ok(())
    }

    #[test]
    fn every_write_changes_the_etag() {
        let mut store = BlobStore::default();
        let first = store.put("c", "b", Bytes::new(), None, t()).etag.clone();
        let second = store.put("c", "b", Bytes::new(), None, t()).etag.clone();
        assert_ne!(first, second);
    }
}
