//! What happens to a backup on its way to an off-machine disk and back: zstd compression and
//! age encryption, both streamed, so memory stays bounded whatever the size. The local backup
//! is never transformed: it stays a plain file that `cp` or `mysql` can restore.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::SecretString;

use crate::error::{Error, Result};

/// zstd level 3 is zstd's own default: about 300 MB/s per core here, most of the gain of the
/// higher levels on SQL text and SQLite pages.
const ZSTD_LEVEL: i32 = 3;

/// The transforms a copy goes through, in this order: compress, then encrypt (encrypted data
/// does not compress).
#[derive(Debug, Default)]
pub struct Transforms {
    pub zstd: bool,
    pub age: Option<Age>,
}

/// age keys. Encryption takes X25519 recipients (public keys, `age1…`) or a passphrase, never
/// both: age files made with a passphrase hold exactly one scrypt stanza. Decryption takes the
/// identities (secret keys) from a file, or the passphrase.
#[derive(Default)]
pub struct Age {
    pub recipients: Vec<age::x25519::Recipient>,
    pub passphrase: Option<SecretString>,
    pub identity_file: Option<PathBuf>,
}

/// Keys and passphrases never reach a log: only how many there are.
impl std::fmt::Debug for Age {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Age")
            .field("recipients", &self.recipients.len())
            .field("passphrase", &self.passphrase.as_ref().map(|_| "<hidden>"))
            .field("identity_file", &self.identity_file)
            .finish()
    }
}

impl Age {
    /// Reads `DB_BACKUP_AGE_RECIPIENTS` (public keys separated by commas or spaces),
    /// `DB_BACKUP_AGE_PASSPHRASE` and `DB_BACKUP_AGE_IDENTITY_FILE`. None when none is set.
    pub fn from_settings(
        recipients: Option<&str>,
        passphrase: Option<&str>,
        identity_file: Option<&str>,
    ) -> Result<Option<Age>> {
        let recipients = parse_recipients(recipients.unwrap_or(""))?;
        let passphrase = passphrase.filter(|p| !p.is_empty());
        if !recipients.is_empty() && passphrase.is_some() {
            return Err(Error::BadSetting {
                name: "DB_BACKUP_AGE_RECIPIENTS",
                expected: "set together with DB_BACKUP_AGE_PASSPHRASE (age encrypts to keys or to a passphrase, not both); keep one",
            });
        }
        let identity_file = identity_file.filter(|p| !p.is_empty()).map(PathBuf::from);
        if recipients.is_empty() && passphrase.is_none() && identity_file.is_none() {
            return Ok(None);
        }
        Ok(Some(Age {
            recipients,
            passphrase: passphrase.map(|p| SecretString::from(p.to_owned())),
            identity_file,
        }))
    }

    /// Can copies be encrypted with these settings (an identity file alone only decrypts)?
    pub fn can_encrypt(&self) -> bool {
        !self.recipients.is_empty() || self.passphrase.is_some()
    }
}

/// Public keys, separated by commas or white space. A bad key is named by its position, not
/// echoed, so a secret key pasted by mistake never reaches the terminal.
fn parse_recipients(text: &str) -> Result<Vec<age::x25519::Recipient>> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|k| !k.is_empty())
        .map(|k| {
            age::x25519::Recipient::from_str(k).map_err(|_| Error::BadSetting {
                name: "DB_BACKUP_AGE_RECIPIENTS",
                expected: "a list of age X25519 public keys (age1…, from `age-keygen -y`)",
            })
        })
        .collect()
}

impl Transforms {
    /// No transform: the copy is the local file, byte for byte.
    #[cfg(test)]
    pub fn none() -> Transforms {
        Transforms::default()
    }

    pub fn is_none(&self) -> bool {
        !self.zstd && !self.encrypts()
    }

    /// Are new copies encrypted? Keys for decryption alone (an identity file) do not encrypt.
    pub fn encrypts(&self) -> bool {
        self.age.as_ref().is_some_and(Age::can_encrypt)
    }

    /// The suffix a copy's name gets after the backup's own name, one per transform that is on.
    pub fn suffix(&self) -> &'static str {
        match (self.zstd, self.encrypts()) {
            (false, false) => "",
            (true, false) => ".zst",
            (false, true) => ".age",
            (true, true) => ".zst.age",
        }
    }

    /// The transforms a copy went through, read from its name's suffix (the name says what was
    /// done, whatever the settings are today), with the keys from these settings.
    pub fn for_copy(&self, copy_name: &str) -> Result<Transforms> {
        let (rest, age) = match copy_name.strip_suffix(".age") {
            Some(rest) => (rest, true),
            None => (copy_name, false),
        };
        let age = match (age, &self.age) {
            (false, _) => None,
            (true, Some(keys)) => Some(Age {
                recipients: keys.recipients.clone(),
                passphrase: keys.passphrase.clone(),
                identity_file: keys.identity_file.clone(),
            }),
            (true, None) => {
                return Err(Error::NoAgeKey(copy_name.to_owned()));
            }
        };
        Ok(Transforms {
            zstd: rest.ends_with(".zst"),
            age,
        })
    }
}

/// Streams `src` through the transforms into `dst`, and flushes it (the caller fsyncs and
/// publishes). Returns the number of bytes written.
pub fn encode(src: &Path, dst: &mut File, t: &Transforms) -> Result<u64> {
    let mut input =
        BufReader::with_capacity(1 << 20, File::open(src).map_err(Error::io("open", src))?);
    let counted = Counter::new(BufWriter::with_capacity(1 << 20, &mut *dst));
    let io_err = |e: io::Error| transform_error("write the copy of", src, e);
    let counted = match t.age.as_ref().filter(|k| k.can_encrypt()) {
        Some(keys) => {
            let encryptor = encryptor(keys)?;
            let mut w = encryptor.wrap_output(counted).map_err(io_err)?;
            compress_or_copy(&mut input, &mut w, t.zstd, src)?;
            w.finish().map_err(io_err)?
        }
        None => {
            let mut w = counted;
            compress_or_copy(&mut input, &mut w, t.zstd, src)?;
            w
        }
    };
    let written = counted.count;
    counted
        .inner
        .into_inner()
        .map_err(|e| io_err(e.into_error()))?;
    Ok(written)
}

/// Streams a copy back to the plain backup: decrypts, then decompresses. A wrong key, a
/// tampered or a truncated copy is an error, never a short file.
pub fn decode(src: &mut dyn Read, dst: &mut dyn Write, t: &Transforms) -> Result<u64> {
    let what = Path::new("the copy");
    match &t.age {
        Some(keys) => {
            let decryptor = age::Decryptor::new_buffered(BufReader::new(src))
                .map_err(|e| Error::Decrypt(e.to_string()))?;
            let mut plain = if decryptor.is_scrypt() {
                let passphrase = keys.passphrase.clone().ok_or_else(|| {
                    Error::Decrypt(
                        "the copy was encrypted with a passphrase; set DB_BACKUP_AGE_PASSPHRASE"
                            .into(),
                    )
                })?;
                let identity = age::scrypt::Identity::new(passphrase);
                decryptor
                    .decrypt(std::iter::once(&identity as &dyn age::Identity))
                    .map_err(|e| Error::Decrypt(e.to_string()))?
            } else {
                let identities = identities(keys)?;
                decryptor
                    .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
                    .map_err(|e| Error::Decrypt(e.to_string()))?
            };
            decompress_or_copy(&mut plain, dst, t.zstd, what)
        }
        None => decompress_or_copy(src, dst, t.zstd, what),
    }
}

fn encryptor(keys: &Age) -> Result<age::Encryptor> {
    if let Some(passphrase) = &keys.passphrase {
        return Ok(age::Encryptor::with_user_passphrase(passphrase.clone()));
    }
    age::Encryptor::with_recipients(keys.recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|_| Error::BadSetting {
            name: "DB_BACKUP_AGE_RECIPIENTS",
            expected: "at least one age public key, or DB_BACKUP_AGE_PASSPHRASE, to encrypt copies",
        })
}

/// The X25519 identities of `DB_BACKUP_AGE_IDENTITY_FILE`, in the format `age-keygen` writes
/// (`AGE-SECRET-KEY-1…` lines, `#` comments). A bad line is named by number, never shown.
fn identities(keys: &Age) -> Result<Vec<age::x25519::Identity>> {
    let path = keys.identity_file.as_deref().ok_or_else(|| {
        Error::Decrypt(
            "the copy is encrypted to age keys; set DB_BACKUP_AGE_IDENTITY_FILE to the file holding the secret key".into(),
        )
    })?;
    let text =
        std::fs::read_to_string(path).map_err(Error::io("read the age identity file", path))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let identity = age::x25519::Identity::from_str(line).map_err(|_| {
            Error::Decrypt(format!(
                "{} line {}: not an age secret key (AGE-SECRET-KEY-1…)",
                path.display(),
                n + 1
            ))
        })?;
        out.push(identity);
    }
    if out.is_empty() {
        return Err(Error::Decrypt(format!(
            "{} holds no age secret key",
            path.display()
        )));
    }
    Ok(out)
}

fn compress_or_copy(
    input: &mut dyn Read,
    out: &mut dyn Write,
    zstd: bool,
    src: &Path,
) -> Result<()> {
    let read_err = |e: io::Error| transform_error("read", src, e);
    if zstd {
        let mut encoder = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL).map_err(read_err)?;
        io::copy(input, &mut encoder).map_err(read_err)?;
        encoder.finish().map_err(read_err)?;
    } else {
        io::copy(input, out).map_err(read_err)?;
    }
    Ok(())
}

fn decompress_or_copy(
    input: &mut dyn Read,
    out: &mut dyn Write,
    zstd: bool,
    what: &Path,
) -> Result<u64> {
    let result = if zstd {
        zstd::stream::read::Decoder::new(input).and_then(|mut d| io::copy(&mut d, out))
    } else {
        io::copy(input, out)
    };
    result.map_err(|e| match e.get_ref().map(|inner| inner.to_string()) {
        // age reports a bad chunk (tampered, truncated) as an I/O error from its reader.
        Some(detail) if e.kind() == io::ErrorKind::InvalidData => Error::Decrypt(detail),
        _ => transform_error("decode", what, e),
    })
}

fn transform_error(action: &'static str, path: &Path, e: io::Error) -> Error {
    Error::io(action, path)(e)
}

/// A writer that counts what went through, for the size of the copy.
struct Counter<W> {
    inner: W,
    count: u64,
}

impl<W> Counter<W> {
    fn new(inner: W) -> Self {
        Counter { inner, count: 0 }
    }
}

impl<W: Write> Write for Counter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;
    use std::io::Cursor;

    /// A file of `n` bytes that compresses (text with some variety), and its bytes.
    fn plain(dir: &Path, n: usize) -> (PathBuf, Vec<u8>) {
        let mut data = Vec::with_capacity(n);
        let mut i = 0u64;
        while data.len() < n {
            data.extend_from_slice(
                format!("INSERT INTO t VALUES ({i},'row {}');\n", i * 7919 % 1013).as_bytes(),
            );
            i += 1;
        }
        data.truncate(n);
        let path = dir.join("database_backup_2026-01-02_030405.sql");
        std::fs::write(&path, &data).unwrap();
        (path, data)
    }

    fn encoded(src: &Path, t: &Transforms) -> Vec<u8> {
        let out = tempfile::tempfile().unwrap();
        let mut f = out;
        let n = encode(src, &mut f, t).unwrap();
        use std::io::Seek;
        f.seek(io::SeekFrom::Start(0)).unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        assert_eq!(n, bytes.len() as u64, "encode reports the bytes it wrote");
        bytes
    }

    fn decoded(bytes: &[u8], t: &Transforms) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        decode(&mut Cursor::new(bytes), &mut out, t)?;
        Ok(out)
    }

    fn keypair() -> (age::x25519::Identity, String) {
        let id = age::x25519::Identity::generate();
        let recipient = id.to_public().to_string();
        (id, recipient)
    }

    fn identity_file(dir: &Path, id: &age::x25519::Identity) -> PathBuf {
        let path = dir.join("key.txt");
        let text = format!("# created: test\n{}\n", id.to_string().expose_secret());
        std::fs::write(&path, text).unwrap();
        path
    }

    fn with_keys(zstd: bool, recipients: &str, identity: &Path) -> Transforms {
        let age = Age::from_settings(Some(recipients), None, identity.to_str()).unwrap();
        Transforms { zstd, age }
    }

    #[test]
    fn suffixes_name_each_transform() {
        let dir = tempfile::tempdir().unwrap();
        let (_, recipient) = keypair();
        let key = dir.path().join("none");
        assert_eq!(Transforms::none().suffix(), "");
        assert!(Transforms::none().is_none());
        let zstd = Transforms {
            zstd: true,
            age: None,
        };
        assert_eq!(zstd.suffix(), ".zst");
        assert_eq!(with_keys(false, &recipient, &key).suffix(), ".age");
        assert_eq!(with_keys(true, &recipient, &key).suffix(), ".zst.age");
        // An identity file alone decrypts but does not encrypt.
        let decrypt_only = with_keys(true, "", &key);
        assert_eq!(decrypt_only.suffix(), ".zst");
        let t = decrypt_only
            .for_copy("database_backup_2026-01-02_030405.sql.zst.age")
            .unwrap();
        assert!(t.zstd && t.age.is_some());
        let t = Transforms::none()
            .for_copy("database_backup_2026-01-02_030405.sqlite")
            .unwrap();
        assert!(t.is_none());
        assert!(matches!(
            Transforms::none().for_copy("x.sql.age"),
            Err(Error::NoAgeKey(_))
        ));
    }

    #[test]
    fn every_combination_round_trips_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let (src, data) = plain(dir.path(), 3 << 20);
        let (id, recipient) = keypair();
        let key = identity_file(dir.path(), &id);
        for zstd in [false, true] {
            for encrypt in [false, true] {
                let t = if encrypt {
                    with_keys(zstd, &recipient, &key)
                } else {
                    Transforms { zstd, age: None }
                };
                let bytes = encoded(&src, &t);
                if zstd {
                    assert!(bytes.len() < data.len() / 4, "zstd shrinks SQL text");
                }
                if encrypt {
                    assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
                    assert!(
                        !bytes.windows(11).any(|w| w == b"INSERT INTO"),
                        "no plain text left"
                    );
                }
                assert!(
                    decoded(&bytes, &t).unwrap() == data,
                    "zstd={zstd} age={encrypt}"
                );
            }
        }
    }

    #[test]
    fn passphrase_round_trips_and_a_wrong_one_fails() {
        let dir = tempfile::tempdir().unwrap();
        let (src, data) = plain(dir.path(), 100_000);
        let t = Transforms {
            zstd: true,
            age: Age::from_settings(None, Some("correct horse battery"), None).unwrap(),
        };
        let bytes = encoded(&src, &t);
        assert!(decoded(&bytes, &t).unwrap() == data);
        let wrong = Transforms {
            zstd: true,
            age: Age::from_settings(None, Some("wrong horse"), None).unwrap(),
        };
        let err = decoded(&bytes, &wrong).unwrap_err().to_string();
        assert!(err.starts_with("cannot decrypt the copy"), "{err}");
        assert!(
            !err.contains("horse"),
            "the passphrase is never shown: {err}"
        );
    }

    #[test]
    fn a_wrong_key_a_tampered_or_a_truncated_copy_fails() {
        let dir = tempfile::tempdir().unwrap();
        let (src, _) = plain(dir.path(), 1 << 20);
        let (id, recipient) = keypair();
        let key = identity_file(dir.path(), &id);
        let t = with_keys(true, &recipient, &key);
        let bytes = encoded(&src, &t);

        let other = tempfile::tempdir().unwrap();
        let (other_id, _) = keypair();
        let wrong = with_keys(true, "", &identity_file(other.path(), &other_id));
        assert!(matches!(decoded(&bytes, &wrong), Err(Error::Decrypt(_))));

        let mut tampered = bytes.clone();
        let at = tampered.len() / 2;
        tampered[at] ^= 1;
        assert!(matches!(decoded(&tampered, &t), Err(Error::Decrypt(_))));

        let truncated = &bytes[..bytes.len() - 100];
        assert!(matches!(decoded(truncated, &t), Err(Error::Decrypt(_))));

        // Without age, a truncated zstd stream fails too rather than giving a short file.
        let z = Transforms {
            zstd: true,
            age: None,
        };
        let zbytes = encoded(&src, &z);
        assert!(decoded(&zbytes[..zbytes.len() / 2], &z).is_err());
    }

    #[test]
    fn keys_are_checked_and_never_shown() {
        let (id, recipient) = keypair();
        let secret = id.to_string().expose_secret().to_owned();
        let err = Age::from_settings(Some(&secret), None, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DB_BACKUP_AGE_RECIPIENTS") && !err.contains(&secret[15..]),
            "{err}"
        );
        let err = Age::from_settings(Some(&recipient), Some("pass"), None).unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
        let two = format!("{recipient}, {}", keypair().1);
        let age = Age::from_settings(Some(&two), None, None).unwrap().unwrap();
        assert_eq!(age.recipients.len(), 2);
        let age = Age::from_settings(None, Some("s3cr3t-pass"), None)
            .unwrap()
            .unwrap();
        assert!(!format!("{age:?}").contains("s3cr3t"));
        assert!(Age::from_settings(Some(""), Some(""), None)
            .unwrap()
            .is_none());
    }
}
