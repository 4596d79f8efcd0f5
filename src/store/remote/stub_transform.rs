//! Stand-in for `store::transform` (zstd and age for the copies), with the same signatures.
// TODO(transform): the coordinator's src/store/transform.rs replaces this file; switch the
// `stub_transform` paths in store::remote and cmd to `store::transform` and delete it.

use std::io::{Read, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// An age recipient set or passphrase; opaque here.
#[derive(Clone)]
pub struct Age;

impl std::fmt::Debug for Age {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Age(…)")
    }
}

/// Which transforms a copy goes through (from the settings).
#[derive(Debug, Clone)]
pub struct Transforms {
    pub zstd: bool,
    pub age: Option<Age>,
}

impl Transforms {
    /// No transform: the copy is the backup's own bytes.
    pub fn none() -> Self {
        Transforms {
            zstd: false,
            age: None,
        }
    }

    /// The suffix a copy with these transforms carries.
    pub fn suffix(&self) -> &'static str {
        match (self.zstd, self.age.is_some()) {
            (false, false) => "",
            (true, false) => ".zst",
            (false, true) => ".age",
            (true, true) => ".zst.age",
        }
    }

    pub fn is_none(&self) -> bool {
        !self.zstd && self.age.is_none()
    }
}

/// Streams `src` through the transforms into `dst`.
pub fn encode(src: &Path, dst: &mut std::fs::File, t: &Transforms) -> Result<(), Error> {
    if !t.is_none() {
        return Err(unavailable());
    }
    let mut file = std::fs::File::open(src).map_err(Error::io("cannot open", src))?;
    std::io::copy(&mut file, dst).map_err(Error::io("cannot copy", src))?;
    Ok(())
}

/// Streams `src` back through the transforms (decrypt, decompress) into `dst`.
pub fn decode(src: &mut dyn Read, dst: &mut dyn Write, t: &Transforms) -> Result<(), Error> {
    if !t.is_none() {
        return Err(unavailable());
    }
    std::io::copy(src, dst).map_err(Error::io("cannot copy", "the copy"))?;
    Ok(())
}

fn unavailable() -> Error {
    Error::Disk {
        disk: "transforms".into(),
        detail: "zstd/age copies are not available in this build yet".into(),
    }
}
