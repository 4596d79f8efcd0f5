//! Where continuous backup keeps the changes it ships: segment files in a `changes` folder
//! beside the backups (and under the same root on each disk), named after their chain and the
//! transactions they hold.

use std::path::{Path, PathBuf};

/// The folder, inside the backups folder and under a disk's root.
pub const DIR: &str = "changes";
/// Names: `database_changes_<chain>_<first>_<last>.dbchanges`.
pub const PREFIX: &str = "database_changes_";
pub const EXT: &str = ".dbchanges";
/// replicate's own record of where it stands, read by `status`.
pub const STATUS: &str = "replicate.json";

/// The changes folder of a backups folder.
pub fn dir(backups_dir: &Path) -> PathBuf {
    backups_dir.join(DIR)
}

/// The name of a segment.
pub fn name(chain: &str, first: u64, last: u64) -> String {
    format!("{PREFIX}{chain}_{first:012}_{last:012}{EXT}")
}

/// A segment's name split into chain, first and last transaction; `None` for anything else.
pub fn parse_name(name: &str) -> Option<(String, u64, u64)> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(EXT)?;
    let mut parts = rest.split('_');
    let chain = parts.next()?;
    let first = parts.next()?;
    let last = parts.next()?;
    let hex = |s: &str| s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let digits = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    if parts.next().is_some() || !hex(chain) || !digits(first) || !digits(last) {
        return None;
    }
    Some((chain.to_string(), first.parse().ok()?, last.parse().ok()?))
}

/// The segment files in a changes folder (regular files with exact names), in name order.
pub fn scan(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let ok = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if ok && entry.file_name().to_str().and_then(parse_name).is_some() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_segment_names_parse() {
        let good = name("00112233aabbccdd", 1, 2);
        assert_eq!(parse_name(&good), Some(("00112233aabbccdd".into(), 1, 2)));
        for bad in [
            "database_changes_00112233aabbccdd_000000000001_000000000002.dbchanges.x",
            "database_changes_00112233AABBCCDD_000000000001_000000000002.dbchanges",
            "database_changes_00112233aabbccd_000000000001_000000000002.dbchanges",
            "database_changes_00112233aabbccdd_00000000001_000000000002.dbchanges",
            "database_changes_00112233aabbccdd_00000000000a_000000000002.dbchanges",
            "database_changes_00112233aabbccdd_000000000001_000000000002_x.dbchanges",
            "../database_changes_00112233aabbccdd_000000000001_000000000002.dbchanges",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }
}
