//! Step 4 of phpdotenv's pipeline: replace `${NAME}` references (`Loader\Resolver`).

use super::entry::RawValue;

/// Replaces `${NAME}` references as phpdotenv's `Resolver` does.
///
/// It walks the recorded `$` positions from last to first, replacing a reference only when
/// `get` knows the name and leaving unknown ones (`${UNDEF}`) verbatim. Going backwards means a
/// substituted value can complete a reference that starts earlier (`$${B}` with `B={A}` reads
/// `${A}`); phpdotenv does exactly that, so we do too. 5.8 rewrote the loop for speed but keeps
/// this behaviour (each reference is resolved against the already resolved tail).
pub(super) fn resolve(value: &RawValue, get: &dyn Fn(&str) -> Option<String>) -> String {
    let mut s = value.chars.clone();
    let mut positions = value.vars.clone();
    positions.sort_unstable_by(|a, b| b.cmp(a));
    for pos in positions {
        // Only text after `pos` has changed, so `pos` is still a char boundary at a `$`.
        let Some(rest) = s.get(pos..) else { continue };
        if let Some((name, len)) = reference_at(rest) {
            if let Some(replacement) = get(name) {
                s.replace_range(pos..pos + len, &replacement);
            }
        }
    }
    s
}

/// Matches `\A\$\{([a-zA-Z0-9_.]+)\}`, returning the name and the byte length of the match.
/// References stay ASCII-only even where 5.5+ accepts Unicode names in assignments.
fn reference_at(s: &str) -> Option<(&str, usize)> {
    let body = s.strip_prefix("${")?;
    let name_len = body
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
        .count();
    if name_len == 0 || body.as_bytes().get(name_len) != Some(&b'}') {
        return None;
    }
    Some((&body[..name_len], 2 + name_len + 1))
}
