//! Steps 1 and 2 of phpdotenv's pipeline: split the text into lines (`Parser::parse`), then
//! glue multi-line double-quoted values back together (`Lines::process`).
//!
//! phpdotenv decides where a multi-line value starts and stops by counting unescaped double
//! quotes on each line, before (and independently of) real parsing. Its quirks are reproduced
//! on purpose, release by release, because they decide which lines end up as entries.

use super::{php_trim, Rules};

/// One raw entry: its 1-based first line and its text (lines of a block joined with `\n`).
pub(super) type RawEntry = (usize, String);

/// Splits into lines the way phpdotenv does: on `\r\n`, `\n` or a lone `\r`.
fn split_lines(content: &str) -> Vec<&str> {
    let bytes = content.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' => {
                lines.push(&content[start..i]);
                i += if bytes.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            b'\n' => {
                lines.push(&content[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    lines.push(&content[start..]);
    lines
}

/// Groups lines into raw entries, as `Lines::process` does under `rules`.
///
/// Under every release, a line holding `="` with a single unescaped quote after it opens a
/// block that swallows the following lines up to the next line with a quote. What differs:
/// - 5.4: a line inside a block that itself looks like a block start (`DB="`) restarts the
///   count, so it needs two quotes to close the block; a block still open at the end of the
///   file is silently dropped, with every line in it.
/// - 5.5 and later (vlucas/phpdotenv#545, in 5.6.1's `Lines::multilineProcess`): lines inside a
///   block never start one, so any line with a quote closes it.
/// - 5.8: a `#` before the `="` keeps a comment from opening a block (vlucas/phpdotenv#615);
///   a quote at the very start of a line counts; a block still open at the end of the file is
///   handed to the parser, which rejects it (vlucas/phpdotenv#610).
pub(super) fn raw_entries(content: &str, rules: Rules) -> Vec<RawEntry> {
    let mut out = Vec::new();
    let mut multiline = false;
    let mut buffer: Vec<&str> = Vec::new();
    let mut buffer_start = 0;

    for (index, line) in split_lines(content).into_iter().enumerate() {
        let line_no = index + 1;
        let may_start = rules == Rules::V5_4 || !multiline;
        let started = may_start && looks_like_multiline_start(line, rules);
        if started {
            multiline = true;
        }
        if multiline {
            if buffer.is_empty() {
                buffer_start = line_no;
            }
            buffer.push(line);
            if looks_like_multiline_stop(line, started, rules) {
                multiline = false;
                let joined = buffer.join("\n");
                buffer.clear();
                if !is_comment_or_whitespace(&joined) {
                    out.push((buffer_start, joined));
                }
            }
        } else if !is_comment_or_whitespace(line) {
            out.push((line_no, line.to_string()));
        }
    }
    if multiline && rules == Rules::V5_8 {
        // 5.8 emits the open block without the comment check, so even a block made only of
        // comment-looking lines reaches the parser.
        out.push((buffer_start, buffer.join("\n")));
    }
    out
}

fn looks_like_multiline_start(line: &str, rules: Rules) -> bool {
    let Some(pos) = line.find("=\"") else {
        return false;
    };
    if rules == Rules::V5_8 && line.find('#').is_some_and(|hash| hash < pos) {
        return false;
    }
    !looks_like_multiline_stop(line, true, rules)
}

/// Counts unescaped quotes after deleting every `\\` pair. Up to 5.6 phpdotenv counts matches of
/// `(?=([^\\]"))`, which misses a quote at position 0 (hence its special case for a line that
/// is just `"`); 5.8 counts `(?<!\\)"`, which does not. The opening line needs two (its own `="`
/// is one), a continuation line one.
fn looks_like_multiline_stop(line: &str, started: bool, rules: Rules) -> bool {
    if rules != Rules::V5_8 && line == "\"" {
        return true;
    }
    let stripped = line.replace("\\\\", "");
    let bytes = stripped.as_bytes();
    let after_first = bytes
        .windows(2)
        .filter(|w| w[0] != b'\\' && w[1] == b'"')
        .count();
    let at_start = usize::from(rules == Rules::V5_8 && bytes.first() == Some(&b'"'));
    let count = after_first + at_start;
    if started {
        count > 1
    } else {
        count >= 1
    }
}

fn is_comment_or_whitespace(line: &str) -> bool {
    let trimmed = php_trim(line);
    trimmed.is_empty() || trimmed.starts_with('#')
}
