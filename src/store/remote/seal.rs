//! What makes a copy on a disk ours: its SHA-256 and sizes, kept beside it (S3 user metadata, a
//! `.seal` file on a folder disk), and an HMAC over them and its name, keyed by a key derived
//! from the app's `APP_KEY`. Anyone who can write to the bucket can upload an object named like
//! a backup, and anyone can encrypt to the app's public age key; only the app can seal.
//!
//! The SHA-256 is ours, not the server's: S3 services keep different checksums (or none), but
//! every one of them keeps user metadata, so the same check works everywhere.

use std::io::Read;
use std::path::Path;

use ring::hmac;

use crate::error::{Error, Result};

/// The metadata keys (S3: `x-amz-meta-<key>`; folder disks: `<key>=<value>` lines).
pub const META_SHA256: &str = "db-backup-sha256";
pub const META_SIZE: &str = "db-backup-size";
pub const META_PLAIN_SIZE: &str = "db-backup-plain-size";
pub const META_SEAL: &str = "db-backup-seal";

/// What the derived key is for: a key derived for anything else never verifies a seal.
const PURPOSE: &[u8] = b"db-backup copy seal v1";

/// A copy's facts and the HMAC over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// Bytes of the object as stored (after zstd/age).
    pub size: u64,
    /// SHA-256 of the object as stored.
    pub sha256: [u8; 32],
    /// Bytes of the backup itself (before the transforms): the bound of a decompression.
    pub plain_size: u64,
    /// Lowercase hex HMAC-SHA256 of the name and the three facts.
    pub mac: String,
}

impl Seal {
    /// The metadata entries that carry it.
    pub fn to_meta(&self) -> Vec<(&'static str, String)> {
        vec![
            (META_SHA256, hex(&self.sha256)),
            (META_SIZE, self.size.to_string()),
            (META_PLAIN_SIZE, self.plain_size.to_string()),
            (META_SEAL, self.mac.clone()),
        ]
    }

    /// Read back from metadata; None unless every entry is there and well formed (whatever
    /// else the metadata holds is ignored).
    pub fn from_meta(get: impl Fn(&str) -> Option<String>) -> Option<Seal> {
        let sha256 = unhex(get(META_SHA256)?.trim())?;
        let size = get(META_SIZE)?.trim().parse().ok()?;
        let plain_size = get(META_PLAIN_SIZE)?.trim().parse().ok()?;
        let mac = get(META_SEAL)?.trim().to_ascii_lowercase();
        (mac.len() == 64 && mac.bytes().all(|b| b.is_ascii_hexdigit())).then_some(Seal {
            size,
            sha256,
            plain_size,
            mac,
        })
    }

    /// The `.seal` file of a folder disk: `key=value` lines.
    pub fn to_text(&self) -> String {
        self.to_meta()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }

    /// Parses a `.seal` file; anything but the four known lines makes it no seal.
    pub fn from_text(text: &str) -> Option<Seal> {
        let mut pairs = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once('=')?;
            if ![META_SHA256, META_SIZE, META_PLAIN_SIZE, META_SEAL].contains(&k) {
                return None;
            }
            pairs.push((k.to_string(), v.to_string()));
        }
        Seal::from_meta(|key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }
}

/// The app's sealing keys: derived from `APP_KEY`, and from `APP_PREVIOUS_KEYS` so that copies
/// sealed before a key rotation stay recognised (Laravel 11+ keeps old keys the same way).
#[derive(Default)]
pub struct Keys {
    current: Option<hmac::Key>,
    previous: Vec<hmac::Key>,
}

/// Keys are never shown.
impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("current", &self.current.as_ref().map(|_| "<hidden>"))
            .field("previous", &self.previous.len())
            .finish()
    }
}

impl Keys {
    /// From `APP_KEY` (`base64:…` or raw, as Laravel reads it) and the previous keys.
    pub fn new(app_key: Option<&str>, previous: &[String]) -> Keys {
        let derive = |k: &str| {
            let k = k.trim();
            (!k.is_empty()).then(|| derive(&key_bytes(k)))
        };
        Keys {
            current: app_key.and_then(derive),
            previous: previous.iter().filter_map(|k| derive(k)).collect(),
        }
    }

    /// True when copies can be sealed (an `APP_KEY` is set).
    pub fn can_seal(&self) -> bool {
        self.current.is_some()
    }

    /// Seals the copy called `name` with the current key.
    pub fn seal(&self, name: &str, size: u64, sha256: [u8; 32], plain_size: u64) -> Result<Seal> {
        let key = self.current.as_ref().ok_or(Error::NoAppKey)?;
        Ok(Seal {
            size,
            sha256,
            plain_size,
            mac: hex(hmac::sign(key, &message(name, size, &sha256, plain_size)).as_ref()),
        })
    }

    /// True when `seal` was made for `name` by this app (current or a previous key).
    pub fn verifies(&self, name: &str, seal: &Seal) -> bool {
        let Some(mac) = unhex_any(&seal.mac) else {
            return false;
        };
        let msg = message(name, seal.size, &seal.sha256, seal.plain_size);
        self.current
            .iter()
            .chain(self.previous.iter())
            .any(|k| hmac::verify(k, &msg, &mac).is_ok())
    }
}

/// Laravel's key: `base64:` then the key's bytes in base64; anything else is used as it is.
fn key_bytes(key: &str) -> Vec<u8> {
    use base64::Engine;
    match key.strip_prefix("base64:") {
        Some(b) => base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .unwrap_or_else(|_| key.as_bytes().to_vec()),
        None => key.as_bytes().to_vec(),
    }
}

/// A key of our own from the app's: the APP_KEY itself never signs anything of ours, so a seal
/// says nothing about the app's encrypted cookies or data, nor they about it.
fn derive(app_key: &[u8]) -> hmac::Key {
    let master = hmac::Key::new(hmac::HMAC_SHA256, app_key);
    hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(&master, PURPOSE).as_ref())
}

fn message(name: &str, size: u64, sha256: &[u8; 32], plain_size: u64) -> Vec<u8> {
    format!("v1\n{name}\n{size}\n{}\n{plain_size}\n", hex(sha256)).into_bytes()
}

/// SHA-256 and length of a file, read once in 1 MiB steps.
pub fn hash_file(path: &Path) -> Result<([u8; 32], u64)> {
    let mut file = std::fs::File::open(path).map_err(Error::io("cannot open", path))?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(Error::io("cannot read", path))?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
        total += n as u64;
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Ok((out, total))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex_any(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let v = unhex_any(text)?;
    v.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "base64:a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=";

    #[test]
    fn a_seal_binds_name_size_digest_and_key() {
        let keys = Keys::new(Some(KEY), &[]);
        let name = "database_backup_2026-01-01_000000.sqlite";
        let seal = keys.seal(name, 10, [7; 32], 20).unwrap();
        assert!(keys.verifies(name, &seal));
        assert!(!keys.verifies("database_backup_2026-01-02_000000.sqlite", &seal));
        for changed in [
            Seal {
                size: 11,
                ..seal.clone()
            },
            Seal {
                sha256: [8; 32],
                ..seal.clone()
            },
            Seal {
                plain_size: 21,
                ..seal.clone()
            },
        ] {
            assert!(!keys.verifies(name, &changed));
        }
        // Another app, or no key at all, cannot make or check it.
        assert!(!Keys::new(Some("base64:b3RoZXI="), &[]).verifies(name, &seal));
        assert!(!Keys::new(None, &[]).verifies(name, &seal));
        assert!(matches!(
            Keys::new(None, &[]).seal(name, 1, [0; 32], 1),
            Err(Error::NoAppKey)
        ));
        // After a rotation, the old key is a previous key and still recognises it.
        let rotated = Keys::new(Some("base64:bmV3IGtleQ=="), &[KEY.to_string()]);
        assert!(rotated.verifies(name, &seal));
        assert!(format!("{rotated:?}").contains("<hidden>"));
    }

    #[test]
    fn seals_round_trip_through_metadata_and_text_and_refuse_anything_else() {
        let seal = Keys::new(Some(KEY), &[]).seal("n", 1, [1; 32], 2).unwrap();
        let meta = seal.to_meta();
        let get = |k: &str| meta.iter().find(|(m, _)| *m == k).map(|(_, v)| v.clone());
        assert_eq!(Seal::from_meta(get), Some(seal.clone()));
        assert_eq!(Seal::from_text(&seal.to_text()), Some(seal.clone()));
        assert_eq!(Seal::from_text(&format!("{}x=1\n", seal.to_text())), None);
        assert_eq!(Seal::from_text("db-backup-size=1\n"), None);
        let short = seal.to_text().replace(&seal.mac, "abc");
        assert_eq!(Seal::from_text(&short), None);
    }
}
