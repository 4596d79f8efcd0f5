//! SQL literals for every MySQL/MariaDB value, exact and loadable by both command-line clients.

use mysql::Value;

/// How a column's values must be written, decided once per column from its declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Numbers the server already prints exactly (integers, DECIMAL, YEAR): written bare.
    Number,
    /// FLOAT: widened to double and printed in full, so the reloaded value is bit-exact.
    Float,
    /// Text in the connection character set (utf8mb4): a quoted, escaped string.
    Text,
    /// Bytes with no character set (BINARY, BLOB, GEOMETRY): an escaped `_binary'…'` string.
    Binary,
    /// BIT: a hex literal (at most 8 bytes, read as a number).
    Bits,
    /// DATE: 'YYYY-MM-DD'.
    Date,
    /// DATETIME/TIMESTAMP: 'YYYY-MM-DD hh:mm:ss[.ffffff]' (TIMESTAMP in UTC, as the session is).
    DateTime,
    /// TIME: '[-]hhh:mm:ss[.ffffff]'.
    Time,
}

impl Encoding {
    /// The kind for an `information_schema.COLUMNS.DATA_TYPE`.
    pub fn of(data_type: &str) -> Encoding {
        match data_type.to_ascii_lowercase().as_str() {
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "decimal"
            | "numeric" | "year" | "double" | "real" | "double precision" => Encoding::Number,
            "float" => Encoding::Float,
            "bit" => Encoding::Bits,
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob"
            | "geometry" | "point" | "linestring" | "polygon" | "multipoint"
            | "multilinestring" | "multipolygon" | "geometrycollection" | "geomcollection" => {
                Encoding::Binary
            }
            "date" => Encoding::Date,
            "datetime" | "timestamp" => Encoding::DateTime,
            "time" => Encoding::Time,
            // char, varchar, *text, enum, set, json (never binary: MySQL refuses binary JSON),
            // uuid, inet4/6 and anything new: text is what the server itself accepts back.
            _ => Encoding::Text,
        }
    }
}

/// Appends `value` as a SQL literal for a column of `kind`.
pub fn literal(out: &mut Vec<u8>, value: &Value, kind: Encoding) {
    match value {
        Value::NULL => out.extend_from_slice(b"NULL"),
        Value::Int(i) => {
            if *i < 0 {
                out.push(b'-');
            }
            push_uint(out, i.unsigned_abs());
        }
        Value::UInt(u) => push_uint(out, *u),
        // `{:?}` is Rust's shortest round-trip form; a FLOAT is widened first so the double the
        // server parses is exactly the stored float (no second rounding on reload).
        Value::Float(f) => push_float(out, f64::from(*f)),
        Value::Double(d) => push_float(out, *d),
        // Dates are millions of values in a stock table: written digit by digit, no allocation.
        Value::Date(y, mo, d, h, mi, s, us) => {
            out.push(b'\'');
            push_padded(out, u64::from(*y), 4);
            out.push(b'-');
            push_padded(out, u64::from(*mo), 2);
            out.push(b'-');
            push_padded(out, u64::from(*d), 2);
            if kind != Encoding::Date {
                out.push(b' ');
                push_clock(out, u64::from(*h), *mi, *s, *us);
            }
            out.push(b'\'');
        }
        Value::Time(neg, days, h, mi, s, us) => {
            out.push(b'\'');
            if *neg {
                out.push(b'-');
            }
            push_clock(out, u64::from(*days) * 24 + u64::from(*h), *mi, *s, *us);
            out.push(b'\'');
        }
        Value::Bytes(b) => match kind {
            Encoding::Binary => binary(out, b),
            Encoding::Bits => hex(out, b),
            // DECIMAL and friends arrive as their exact decimal text.
            Encoding::Number | Encoding::Float if is_plain_number(b) => out.extend_from_slice(b),
            _ => quoted(out, b),
        },
    }
}

/// `hh:mm:ss[.ffffff]`.
fn push_clock(out: &mut Vec<u8>, hours: u64, mi: u8, s: u8, us: u32) {
    push_padded(out, hours, 2);
    out.push(b':');
    push_padded(out, u64::from(mi), 2);
    out.push(b':');
    push_padded(out, u64::from(s), 2);
    if us != 0 {
        out.push(b'.');
        push_padded(out, u64::from(us), 6);
    }
}

/// Decimal digits of `v`.
fn push_uint(out: &mut Vec<u8>, v: u64) {
    push_padded(out, v, 1);
}

/// Decimal digits of `v`, zero-padded to at least `width`.
fn push_padded(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    while v > 0 {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let start = i.min(buf.len() - width.clamp(1, 20));
    out.extend_from_slice(&buf[start..]);
}

fn push_float(out: &mut Vec<u8>, v: f64) {
    // SQL has no literal for these; the server cannot store them either.
    if v == 0.0 && v.is_sign_negative() {
        // `-0.0` would be the DECIMAL -0.0, which is 0: only a DOUBLE literal keeps the sign.
        out.extend_from_slice(b"-0e0");
    } else if v.is_finite() {
        use std::io::Write;
        let _ = write!(out, "{v:?}");
    } else {
        out.extend_from_slice(b"NULL");
    }
}

fn is_plain_number(b: &[u8]) -> bool {
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
}

/// A single-quoted string with mysqldump's escapes, so it loads the same under any client and
/// with NO_BACKSLASH_ESCAPES off (the dump header turns it off).
pub fn quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + s.len() / 32 + 2);
    out.push(b'\'');
    let mut rest = s;
    // Runs of plain bytes are copied whole: the table look-up is the only per-byte work.
    while let Some(i) = rest.iter().position(|&c| ESCAPED[usize::from(c)]) {
        out.extend_from_slice(&rest[..i]);
        out.push(b'\\');
        out.push(match rest[i] {
            0 => b'0',
            b'\n' => b'n',
            b'\r' => b'r',
            0x1a => b'Z',
            // \\, \' and \" stand for themselves.
            c => c,
        });
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'\'');
}

/// The bytes mysqldump escapes in strings: NUL (the client refuses it outside --binary-mode),
/// LF and CR (the client turns CR LF into LF), the backslash and both quotes, and Ctrl-Z
/// (end of file for a Windows console).
const ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    let bytes = b"\0\n\r\\'\"\x1a";
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
};

/// `_binary'…'`: the bytes themselves, escaped as in [`quoted`]. About 1.03 times the value's
/// size for random bytes (7 of 256 byte values take two bytes), as in mysqldump's own files,
/// where hex takes twice the size and so would not fit `max_allowed_packet` as often. The
/// introducer makes it a binary string whatever the connection's character set, so no
/// conversion or "invalid utf8mb4" check touches it; bytes of 0x80 and above go as they are,
/// which both clients pass through (no ASCII byte is ever part of a UTF-8 sequence).
pub fn binary(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b"_binary");
    quoted(out, b);
}

/// `0x…`, or `''` for empty bytes (a bare `0x` is not valid SQL).
pub fn hex(out: &mut Vec<u8>, b: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    if b.is_empty() {
        out.extend_from_slice(b"''");
        return;
    }
    out.extend_from_slice(b"0x");
    let start = out.len();
    out.resize(start + b.len() * 2, 0);
    for (pair, &c) in out[start..].chunks_exact_mut(2).zip(b) {
        pair[0] = DIGITS[usize::from(c >> 4)];
        pair[1] = DIGITS[usize::from(c & 0xf)];
    }
}

/// A backquoted identifier; a backquote inside is doubled.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(v: Value, k: Encoding) -> String {
        let mut out = Vec::new();
        literal(&mut out, &v, k);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn strings_escape_every_dangerous_byte() {
        let s = b"a\0b'c\"d\\e\r\nf\x1ag\xF0\x9F\x98\x80".to_vec();
        assert_eq!(
            lit(Value::Bytes(s), Encoding::Text),
            "'a\\0b\\'c\\\"d\\\\e\\r\\nf\\Zg\u{1F600}'"
        );
    }

    #[test]
    fn binary_is_an_escaped_binary_string_and_bits_are_hex() {
        let mut out = Vec::new();
        let every: Vec<u8> = (0..=255).collect();
        literal(&mut out, &Value::Bytes(every.clone()), Encoding::Binary);
        assert!(out.starts_with(b"_binary'\\0\x01"));
        assert!(out.ends_with(b"\xfe\xff'"));
        assert_eq!(out.len(), "_binary''".len() + 256 + 7);
        for esc in [&b"\\n"[..], b"\\r", b"\\\\", b"\\'", b"\\\"", b"\\Z"] {
            assert!(out.windows(2).any(|w| w == esc), "{esc:?}");
        }
        assert_eq!(unescape(&out[8..out.len() - 1]), every);
        assert_eq!(lit(Value::Bytes(vec![]), Encoding::Binary), "_binary''");
        assert_eq!(lit(Value::NULL, Encoding::Binary), "NULL");
        assert_eq!(
            lit(Value::Bytes(vec![0, 255, 16]), Encoding::Bits),
            "0x00FF10"
        );
        assert_eq!(lit(Value::Bytes(vec![]), Encoding::Bits), "''");
    }

    /// What the server makes of a backslash escape in a string.
    fn unescape(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut it = s.iter();
        while let Some(&c) = it.next() {
            if c != b'\\' {
                out.push(c);
                continue;
            }
            out.push(match it.next() {
                Some(b'0') => 0,
                Some(b'n') => b'\n',
                Some(b'r') => b'\r',
                Some(b'Z') => 0x1a,
                Some(&c) => c,
                None => b'\\',
            });
        }
        out
    }

    #[test]
    fn floats_round_trip_bit_exact() {
        for f in [0.1f32, 1.175_494_4e-38, f32::MAX, 16_777_216.0, -0.0, 1e-45] {
            let text = lit(Value::Float(f), Encoding::Float);
            let back: f64 = text.parse().unwrap();
            assert_eq!((back as f32).to_bits(), f.to_bits(), "{f} -> {text}");
            assert_eq!(back, f64::from(f), "no double rounding for {f}");
        }
        let d = lit(Value::Double(0.1 + 0.2), Encoding::Number);
        assert_eq!(d.parse::<f64>().unwrap(), 0.1 + 0.2);
        assert_eq!(lit(Value::Double(1e300), Encoding::Number), "1e300");
        assert_eq!(lit(Value::Double(-0.0), Encoding::Number), "-0e0");
        assert_eq!(lit(Value::Float(-0.0), Encoding::Float), "-0e0");
        assert_eq!(lit(Value::Double(0.0), Encoding::Number), "0.0");
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(
            lit(Value::Date(2026, 11, 25, 0, 0, 0, 0), Encoding::Date),
            "'2026-11-25'"
        );
        assert_eq!(
            lit(Value::Date(0, 0, 0, 0, 0, 0, 0), Encoding::DateTime),
            "'0000-00-00 00:00:00'"
        );
        assert_eq!(
            lit(Value::Date(2026, 1, 2, 3, 4, 5, 60), Encoding::DateTime),
            "'2026-01-02 03:04:05.000060'"
        );
        assert_eq!(
            lit(Value::Time(true, 34, 22, 59, 59, 0), Encoding::Time),
            "'-838:59:59'"
        );
        assert_eq!(
            lit(Value::Time(false, 0, 1, 2, 3, 500_000), Encoding::Time),
            "'01:02:03.500000'"
        );
    }

    #[test]
    fn integers_at_their_limits() {
        assert_eq!(
            lit(Value::Int(i64::MIN), Encoding::Number),
            "-9223372036854775808"
        );
        assert_eq!(lit(Value::Int(0), Encoding::Number), "0");
        assert_eq!(
            lit(Value::UInt(u64::MAX), Encoding::Number),
            "18446744073709551615"
        );
        assert_eq!(
            lit(Value::Date(2026, 1, 2, 0, 0, 0, 0), Encoding::Date),
            "'2026-01-02'"
        );
    }

    #[test]
    fn decimals_are_bare_and_idents_are_quoted() {
        assert_eq!(
            lit(Value::Bytes(b"-12.500".to_vec()), Encoding::Number),
            "-12.500"
        );
        assert_eq!(ident("we`ird name"), "`we``ird name`");
    }
}
