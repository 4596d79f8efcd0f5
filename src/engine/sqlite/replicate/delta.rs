//! A page as the bytes that changed since its previous version: most transactions change a few
//! rows of a page (an insert adds one, an update rewrites a counter), so a segment holding each
//! page whole writes ~4 KiB where ~100 bytes changed — on the local disk beside the app's own
//! commits, again at each compaction, and up to S3.
//!
//! A delta is a list of runs, `offset:u16 len:u16` then `len` bytes, each replacing that span of
//! the previous version. Runs closer than [`JOIN`] bytes are joined (a run's head costs 4). A
//! page whose delta would not be much smaller than the page is written whole.

/// Gaps shorter than this between two changed spans are sent as part of one run.
const JOIN: usize = 8;
/// A run's head: offset and length.
const RUN_HEAD: usize = 4;

/// The runs that turn `old` into `new` (same length), appended to `out`; false (and `out` as it
/// was) when they would take more than half the page: the page is then better sent whole.
pub fn encode(old: &[u8], new: &[u8], out: &mut Vec<u8>) -> bool {
    debug_assert_eq!(old.len(), new.len());
    let start = out.len();
    let limit = start + new.len() / 2;
    let mut at = 0;
    while let Some(from) = first_difference(&old[at..], &new[at..]).map(|d| at + d) {
        // The run ends where the next JOIN bytes are all unchanged (or at the page's end).
        let mut end = from + 1;
        let mut same = 0;
        while end + same < new.len() && same < JOIN {
            if old[end + same] == new[end + same] {
                same += 1;
            } else {
                end += same + 1;
                same = 0;
            }
        }
        out.extend_from_slice(&(from as u16).to_le_bytes());
        out.extend_from_slice(&((end - from) as u16).to_le_bytes());
        out.extend_from_slice(&new[from..end]);
        if out.len() > limit {
            out.truncate(start);
            return false;
        }
        at = end;
    }
    true
}

fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    // Eight bytes at a time: pages are mostly unchanged, and this is the replicate loop's cost.
    let chunks = a.len() / 8;
    for i in 0..chunks {
        let (x, y) = (&a[i * 8..i * 8 + 8], &b[i * 8..i * 8 + 8]);
        if x != y {
            return x.iter().zip(y).position(|(p, q)| p != q).map(|d| i * 8 + d);
        }
    }
    a[chunks * 8..]
        .iter()
        .zip(&b[chunks * 8..])
        .position(|(p, q)| p != q)
        .map(|d| chunks * 8 + d)
}

/// Applies `delta` to `page` (the previous version, changed in place). Err says what is wrong
/// with a delta that does not fit the page: a damaged or foreign record.
pub fn apply(delta: &[u8], page: &mut [u8]) -> Result<(), &'static str> {
    let mut rest = delta;
    while !rest.is_empty() {
        if rest.len() < RUN_HEAD {
            return Err("a change run is cut short");
        }
        let offset = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
        let bytes = rest
            .get(RUN_HEAD..RUN_HEAD + len)
            .ok_or("a change run is cut short")?;
        page.get_mut(offset..offset + len)
            .ok_or("a change run lies outside the page")?
            .copy_from_slice(bytes);
        rest = &rest[RUN_HEAD + len..];
    }
    Ok(())
}

/// The last version written of the pages changed lately, so that their next version can be
/// written as changes. Bounded: when full it starts again empty (the hot pages come back within a
/// few transactions; the others are written whole, as they would be anyway).
#[derive(Default)]
pub struct Versions {
    pages: std::collections::HashMap<u32, Vec<u8>>,
    bytes: usize,
    /// The highest page number held.
    highest: u32,
}

/// Memory kept for page versions.
const VERSIONS_BYTES: usize = 16 << 20;

impl Versions {
    pub fn get(&self, pgno: u32) -> Option<&[u8]> {
        self.pages.get(&pgno).map(|p| &p[..])
    }

    pub fn set(&mut self, pgno: u32, page: &[u8]) {
        if let Some(old) = self.pages.get_mut(&pgno) {
            old.clear();
            old.extend_from_slice(page);
            return;
        }
        if self.bytes + page.len() > VERSIONS_BYTES {
            *self = Versions::default();
        }
        self.bytes += page.len();
        self.highest = self.highest.max(pgno);
        self.pages.insert(pgno, page.to_vec());
    }

    /// Pages past `db_pages` are gone: the replay truncates them, so a page that comes back
    /// later must be written whole.
    pub fn truncate(&mut self, db_pages: u32) {
        if self.highest > db_pages {
            self.pages.retain(|&p, _| p <= db_pages);
            self.bytes = self.pages.values().map(Vec::len).sum();
            self.highest = db_pages;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(old: &[u8], new: &[u8]) -> Option<usize> {
        let mut out = vec![0xAA];
        if !encode(old, new, &mut out) {
            assert_eq!(out, [0xAA], "a refused delta leaves the buffer as it was");
            return None;
        }
        let mut page = old.to_vec();
        apply(&out[1..], &mut page).unwrap();
        assert_eq!(page, new);
        Some(out.len() - 1)
    }

    #[test]
    fn small_changes_anywhere_in_the_page_come_back_exactly() {
        let old: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(round_trip(&old, &old), Some(0));
        for spots in [
            vec![0],
            vec![4095],
            vec![0, 4095],
            vec![100, 103, 109, 118, 2000],
            vec![7, 8, 9, 15, 16, 17, 4094],
        ] {
            let mut new = old.clone();
            for &s in &spots {
                new[s] ^= 0x5A;
            }
            let size = round_trip(&old, &new).expect("a few bytes make a small delta");
            assert!(size < 64, "{spots:?}: {size} bytes");
        }
        // An inserted row: 250 new bytes and a changed header.
        let mut new = old.clone();
        new[3000..3250].fill(1);
        new[1..5].copy_from_slice(&[9, 9, 9, 9]);
        assert!(round_trip(&old, &new).unwrap() < 270);
    }

    #[test]
    fn a_page_mostly_changed_is_sent_whole() {
        let old = vec![0u8; 512];
        let new: Vec<u8> = (0..512u32).map(|i| (i % 255 + 1) as u8).collect();
        assert_eq!(round_trip(&old, &new), None);
        let big_old = vec![0u8; 65536];
        let mut big_new = big_old.clone();
        big_new[65000..65536].fill(3);
        assert!(round_trip(&big_old, &big_new).is_some());
    }

    #[test]
    fn a_delta_that_does_not_fit_its_page_is_refused() {
        let mut page = vec![0u8; 512];
        assert!(
            apply(&[0, 2, 4, 0, 1, 2, 3, 4], &mut page).is_err(),
            "offset 512"
        );
        assert!(apply(&[250, 1, 10, 0], &mut page).is_err(), "cut short");
        assert!(apply(&[1, 0], &mut page).is_err(), "a head cut short");
        assert!(
            apply(&[252, 1, 4, 0, 1, 2, 3, 4], &mut page).is_ok(),
            "offset 508"
        );
        assert_eq!(&page[508..], [1, 2, 3, 4]);
    }
}
