//! `Idempotency-Key`: a retried notarize request never files twice.
//!
//! The first request under a key runs; its answer, when it succeeded, is kept on disk beside a
//! fingerprint of the request, for the configured hours. A retry with
//! the same key and the same request gets the kept answer again; the same key on another
//! request is refused (`idempotency-key-reused`), and a retry while the first is still
//! running is told so (`request-in-progress`). Keys are per caller (API token name), so two
//! filing systems cannot collide.
//!
//! Refusals are not kept: nothing was filed, and a retry asks the ledger again (which may
//! decide otherwise once its state has moved on, a passed inspection filed in between, say).
//!
//! Each record is one file, written to a temporary name, synced and renamed, so a crash leaves
//! either the whole record or none. A crash between the ledger's commit and the record's write
//! loses the record, not the filing: for documents filed as their next version, the retry finds
//! the same digest as the latest version and is answered with its existing receipt (the client
//! library's rule); for explicit versions, the gateway finds each version filed as the same
//! document and answers with the receipts. A retry that races a first attempt still waiting
//! to commit may be refused as a version conflict; the gateway then asks once more, and finds
//! the first attempt's filing (ARCHITECTURE.md).

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::problem::Problem;

/// The longest key accepted, in bytes.
pub(crate) const KEY_LEN_MAX: usize = 255;

/// What the gateway remembers of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stored {
    pub(crate) fingerprint: String,
    pub(crate) created_ms: u64,
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: String,
}

/// The records, one file each under a directory.
#[derive(Debug)]
pub(crate) struct IdempotencyStore {
    dir: PathBuf,
    ttl: Duration,
    running: Arc<Mutex<HashSet<String>>>,
}

/// A key being worked on: while it lives, a retry under the same key is told to wait.
#[derive(Debug)]
pub(crate) struct Slot {
    name: String,
    path: PathBuf,
    running: Arc<Mutex<HashSet<String>>>,
    /// The answer kept from an earlier request under the key, if any and not expired.
    pub(crate) earlier: Option<Stored>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.running).remove(&self.name);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A request's fingerprint: the SHA-256 of what identifies it, hex.
pub(crate) fn fingerprint(parts: &[&[u8]]) -> String {
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// Checks a key's form: 1 to [`KEY_LEN_MAX`] visible ASCII characters.
///
/// # Errors
/// A problem naming what is wrong.
pub(crate) fn check_key(key: &str) -> Result<(), Problem> {
    if key.is_empty() || key.len() > KEY_LEN_MAX || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Problem::bad_request(
            "bad-idempotency-key",
            format!(
                "an Idempotency-Key is 1 to {KEY_LEN_MAX} visible ASCII characters (a UUID, for \
                 example)"
            ),
        ));
    }
    Ok(())
}

impl IdempotencyStore {
    /// Opens (creating) the directory, and removes the records older than `ttl`.
    ///
    /// # Errors
    /// The directory cannot be made or read.
    pub(crate) fn open(dir: &Path, ttl: Duration) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let store = Self {
            dir: dir.to_owned(),
            ttl,
            running: Arc::default(),
        };
        store.sweep()?;
        Ok(store)
    }

    /// Removes expired records, and temporary files left by a crash (older than
    /// [`TEMPORARY_AGE_MAX`], so a record being written now is left alone). A record that
    /// cannot be read for another reason than its absence is left too.
    ///
    /// # Errors
    /// The directory cannot be read.
    pub(crate) fn sweep(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let expired = if name.ends_with(".tmp") {
                std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|modified| modified.elapsed().ok())
                    .is_some_and(|age| age > TEMPORARY_AGE_MAX)
            } else if name.ends_with(".json") {
                match read(&path) {
                    Ok(Some(stored)) => self.expired(&stored),
                    // Unparsable: never written whole (records are renamed into place), so
                    // not a record.
                    Ok(None) => true,
                    Err(_) => false,
                }
            } else {
                false
            };
            if expired && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn expired(&self, stored: &Stored) -> bool {
        now_ms().saturating_sub(stored.created_ms) > self.ttl.as_millis() as u64
    }

    /// Starts work under `caller`'s `key`.
    ///
    /// # Errors
    /// `request-in-progress` (409) while another request under the same key runs.
    pub(crate) fn begin(&self, caller: &str, key: &str) -> Result<Slot, Problem> {
        let name = fingerprint(&[caller.as_bytes(), key.as_bytes()]);
        if !lock(&self.running).insert(name.clone()) {
            return Err(Problem::new(
                axum::http::StatusCode::CONFLICT,
                "request-in-progress",
                "A request under this Idempotency-Key is still running",
                "wait for it to finish, then retry to get its answer",
            ));
        }
        let path = self.dir.join(format!("{name}.json"));
        // Taken before reading, so the slot releases the key on every path below.
        let mut slot = Slot {
            name,
            path,
            running: Arc::clone(&self.running),
            earlier: None,
        };
        match read(&slot.path) {
            Ok(earlier) => {
                slot.earlier = earlier.filter(|stored| !self.expired(stored));
                Ok(slot)
            }
            // Not knowing whether the key answered before, the request must not run.
            Err(error) => Err(Problem::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "idempotency-store-unavailable",
                "The gateway cannot read its idempotency records",
                format!("try again later ({error})"),
            )),
        }
    }
}

/// How old a temporary file must be before a sweep removes it.
const TEMPORARY_AGE_MAX: Duration = Duration::from_secs(600);

/// A record: `Ok(None)` when there is none (or it is not a whole record), an error when it
/// cannot be read.
fn read(path: &Path) -> std::io::Result<Option<Stored>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(serde_json::from_str(&text).ok()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

impl Slot {
    /// Keeps `body` (a success, `content_type`) as the key's answer to the request of
    /// `fingerprint`, on the blocking pool (it syncs the file and its directory).
    ///
    /// # Errors
    /// The record cannot be written; the request's own outcome stands.
    pub(crate) async fn keep(
        &self,
        fingerprint: &str,
        status: u16,
        content_type: &str,
        body: &str,
    ) -> std::io::Result<()> {
        let stored = Stored {
            fingerprint: fingerprint.to_owned(),
            created_ms: now_ms(),
            status,
            content_type: content_type.to_owned(),
            body: body.to_owned(),
        };
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write(&path, &stored))
            .await
            .map_err(std::io::Error::other)?
    }
}

/// Writes a record whole or not at all: a temporary file, synced, renamed into place, and the
/// directory synced.
fn write(path: &Path, stored: &Stored) -> std::io::Result<()> {
    let text = serde_json::to_string(stored).map_err(std::io::Error::other)?;
    let temporary = path.with_extension("tmp");
    {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_is_kept_per_caller_and_key_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = IdempotencyStore::open(dir.path(), Duration::from_secs(3600)).unwrap();
        {
            let slot = store.begin("filing", "k-1").unwrap();
            assert!(slot.earlier.is_none());
            // A second request under the key while the first runs is told to wait.
            assert_eq!(
                store.begin("filing", "k-1").unwrap_err().code,
                "request-in-progress"
            );
            // Another caller's key of the same text is another key.
            assert!(store.begin("audit", "k-1").unwrap().earlier.is_none());
            slot.keep("fp", 200, "application/json", "{}")
                .await
                .unwrap();
        }
        let slot = store.begin("filing", "k-1").unwrap();
        let earlier = slot.earlier.clone().unwrap();
        assert_eq!((earlier.fingerprint.as_str(), earlier.status), ("fp", 200));
        drop(slot);

        // Reopened with no time to live, the record is swept away.
        let store = IdempotencyStore::open(dir.path(), Duration::ZERO).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(store.begin("filing", "k-1").unwrap().earlier.is_none());
    }

    #[test]
    fn a_damaged_record_is_no_record_and_keys_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = IdempotencyStore::open(dir.path(), Duration::from_secs(3600)).unwrap();
        let name = fingerprint(&[b"filing", b"k"]);
        std::fs::write(dir.path().join(format!("{name}.json")), "{not json").unwrap();
        assert!(store.begin("filing", "k").unwrap().earlier.is_none());
        for bad in [
            "",
            "has space",
            "tab\t",
            &"x".repeat(KEY_LEN_MAX + 1),
            "ключ",
        ] {
            assert_eq!(
                check_key(bad).unwrap_err().code,
                "bad-idempotency-key",
                "{bad:?}"
            );
        }
        check_key("6f1c2a9e-3b7d-4c1e-9a55-0d2f4e8b7c61").unwrap();
    }
}
