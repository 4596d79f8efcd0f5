//! TEMPORARY STUB (replaced by the streaming splitter): splits on `;` at line ends only.
use std::io::BufRead;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub line: usize,
    pub sql: Vec<u8>,
}

pub struct Statements<R: BufRead> {
    reader: R,
    line: usize,
}

impl<R: BufRead> Statements<R> {
    pub fn new(reader: R) -> Self {
        Statements { reader, line: 0 }
    }
}

impl<R: BufRead> Iterator for Statements<R> {
    type Item = std::io::Result<Statement>;
    fn next(&mut self) -> Option<Self::Item> {
        let mut sql = Vec::new();
        let mut start = 0;
        loop {
            let mut buf = Vec::new();
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(e)),
            }
            self.line += 1;
            let t = buf.trim_ascii();
            if sql.is_empty() && (t.is_empty() || t.starts_with(b"--")) {
                continue;
            }
            if sql.is_empty() {
                start = self.line;
            }
            sql.extend_from_slice(&buf);
            if t.ends_with(b";") {
                let s = sql.trim_ascii();
                return Some(Ok(Statement {
                    line: start,
                    sql: s[..s.len() - 1].to_vec(),
                }));
            }
        }
    }
}
