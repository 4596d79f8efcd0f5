//! The state checksum: one 64-bit value for a whole database, updated page by page as
//! transactions are applied. It links a daily backup to the point of the chain it holds, and
//! proves a point-in-time restore ended exactly where the chain says.
//!
//! It is the XOR of a hash of each page (XXH3 seeded with the page number), so a transaction
//! updates it in proportion to the pages it wrote. XXH3 rather than a CRC: XORed CRCs are linear
//! and would not see two pages' contents swapped. Bytes of the header that differ between the
//! live file and a copy of the same data (the journal mode, the change counter, the SQLite
//! version that last wrote it) are read as zeros, and the lock-byte page (never used, at 1 GiB)
//! is left out.

use std::fs::File;
use std::os::unix::fs::FileExt;

use twox_hash::XxHash3_64;

/// The hash of page `pgno` holding `page`.
pub fn page_hash(pgno: u32, page: &[u8]) -> u64 {
    if pgno == lock_page(page.len() as u32) {
        return 0;
    }
    if pgno == 1 && page.len() >= 100 {
        let mut first = page.to_vec();
        for range in [18..20, 24..28, 92..100] {
            first[range].fill(0);
        }
        return XxHash3_64::oneshot_with_seed(1, &first);
    }
    XxHash3_64::oneshot_with_seed(u64::from(pgno), page)
}

/// The page holding the lock bytes at offset 2^30, which SQLite never writes.
fn lock_page(page_size: u32) -> u32 {
    (1u32 << 30) / page_size + 1
}

/// A database's state checksum, with each page's hash so that it can be updated.
#[derive(Debug, Clone)]
pub struct State {
    page_size: u32,
    hashes: Vec<u64>,
    value: u64,
}

impl State {
    /// The state of `db_pages` pages of `page_size` bytes read from `file`.
    pub fn of_file(file: &File, page_size: u32, db_pages: u32) -> std::io::Result<State> {
        let mut state = State {
            page_size,
            hashes: vec![0; db_pages as usize],
            value: 0,
        };
        let per_read = ((1usize << 20) / page_size as usize).max(1);
        let mut buf = vec![0u8; per_read * page_size as usize];
        let mut pgno = 1u32;
        while pgno <= db_pages {
            let n = per_read.min((db_pages - pgno + 1) as usize);
            let chunk = &mut buf[..n * page_size as usize];
            read_fully_at(file, chunk, u64::from(pgno - 1) * u64::from(page_size))?;
            for page in chunk.chunks_exact(page_size as usize) {
                state.set(pgno, page);
                pgno += 1;
            }
        }
        Ok(state)
    }

    /// An empty database of `page_size` bytes pages.
    pub fn empty(page_size: u32) -> State {
        State {
            page_size,
            hashes: Vec::new(),
            value: 0,
        }
    }

    /// Page `pgno` now holds `page` (the database grows to hold it if needed).
    pub fn set(&mut self, pgno: u32, page: &[u8]) {
        let i = pgno as usize - 1;
        if i >= self.hashes.len() {
            self.resize(pgno);
        }
        let h = page_hash(pgno, page);
        self.value ^= self.hashes[i] ^ h;
        self.hashes[i] = h;
    }

    /// The database now has `db_pages` pages: pages past it go, new ones are zeros until set.
    pub fn resize(&mut self, db_pages: u32) {
        let n = db_pages as usize;
        while self.hashes.len() > n {
            let h = self.hashes.pop().unwrap_or(0);
            self.value ^= h;
        }
        if self.hashes.len() < n {
            let zeros = vec![0u8; self.page_size as usize];
            while self.hashes.len() < n {
                let pgno = self.hashes.len() as u32 + 1;
                let h = page_hash(pgno, &zeros);
                self.value ^= h;
                self.hashes.push(h);
            }
        }
    }

    pub fn value(&self) -> u64 {
        self.value
    }

    pub fn pages(&self) -> u32 {
        self.hashes.len() as u32
    }

    pub fn page_size(&self) -> u32 {
        self.page_size
    }
}

/// Reads `buf.len()` bytes at `offset`; bytes past the end of the file read as zeros (a file
/// SQLite has not grown yet, or a sparse lock-byte page).
fn read_fully_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64)? {
            0 => {
                buf[done..].fill(0);
                return Ok(());
            }
            n => done += n,
        }
    }
    Ok(())
}

/// The state checksum of a database file at rest (a backup): its page size read from its
/// header, every page of the file. Returns (state, page size, pages).
pub fn of_path(path: &std::path::Path) -> crate::error::Result<(u64, u32, u32)> {
    use crate::error::Error;
    let file = File::open(path).map_err(Error::io("cannot open", path))?;
    let len = file
        .metadata()
        .map_err(Error::io("cannot read", path))?
        .len();
    let mut head = [0u8; 100];
    file.read_exact_at(&mut head, 0)
        .map_err(|_| Error::NotADatabase(path.to_path_buf()))?;
    if &head[..16] != b"SQLite format 3\0" {
        return Err(Error::NotADatabase(path.to_path_buf()));
    }
    let page_size = match u16::from_be_bytes([head[16], head[17]]) {
        1 => 65536,
        n => u32::from(n),
    };
    if !page_size.is_power_of_two() || page_size < 512 || len % u64::from(page_size) != 0 {
        return Err(Error::NotADatabase(path.to_path_buf()));
    }
    let pages = (len / u64::from(page_size)) as u32;
    let state = State::of_file(&file, page_size, pages).map_err(Error::io("cannot read", path))?;
    Ok((state.value(), page_size, pages))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swapped_pages_and_header_noise() {
        let a = vec![1u8; 512];
        let b = vec![2u8; 512];
        let mut s1 = State::empty(512);
        s1.set(2, &a);
        s1.set(3, &b);
        let mut s2 = State::empty(512);
        s2.set(2, &b);
        s2.set(3, &a);
        assert_ne!(s1.value(), s2.value(), "swapped contents must differ");
        // The same pages set in another order, or set twice, give the same state.
        let mut s3 = State::empty(512);
        s3.set(3, &a);
        s3.set(3, &b);
        s3.set(2, &a);
        assert_eq!(s1.value(), s3.value());
        // Header bytes a copy changes do not count; any other does.
        let mut h = vec![0u8; 512];
        h[..16].copy_from_slice(b"SQLite format 3\0");
        let base = page_hash(1, &h);
        for at in [18, 19, 24, 27, 92, 99] {
            let mut x = h.clone();
            x[at] = 9;
            assert_eq!(page_hash(1, &x), base, "byte {at}");
        }
        for at in [16, 20, 28, 40, 100, 511] {
            let mut x = h.clone();
            x[at] = 9;
            assert_ne!(page_hash(1, &x), base, "byte {at}");
        }
        // Shrinking and growing back to zeros is the same as never having had the pages.
        let mut s4 = s1.clone();
        s4.resize(1);
        s4.resize(3);
        let mut s5 = State::empty(512);
        s5.resize(3);
        assert_eq!(s4.value(), s5.value());
    }
}
