//! Sizes and durations the way people read them (1.5 MiB, 3 h), for every layer's messages.

/// A byte count: `512 B`, `1.5 KiB`, `3.0 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A span of seconds: `30 s`, `45 min`, `26 h`, `3 d`, `2 d 4 h`; negative is `in the future`.
pub fn span(seconds: i64) -> String {
    match seconds {
        s if s < 0 => "in the future".to_string(),
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s if s % 86_400 < 3600 => format!("{} d", s / 86_400),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// How long ago: `3 h ago`; the future is `in the future`.
pub fn age(seconds: i64) -> String {
    match seconds {
        s if s < 0 => span(s),
        s => format!("{} ago", span(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn spans_and_ages_read_naturally() {
        assert_eq!(span(30), "30 s");
        assert_eq!(span(45 * 60), "45 min");
        assert_eq!(span(26 * 3600), "26 h");
        assert_eq!(span(72 * 3600), "3 d");
        assert_eq!(span(50 * 3600), "2 d 2 h");
        assert_eq!(span(-1), "in the future");
        assert_eq!(age(30), "30 s ago");
        assert_eq!(age(3600), "60 min ago");
        assert_eq!(age(3 * 3600), "3 h ago");
        assert_eq!(age(5 * 86_400), "5 d ago");
        assert_eq!(age(-5), "in the future");
    }
}
