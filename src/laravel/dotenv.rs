//! TEMPORARY STUB — replaced by the phpdotenv-compatible parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}
impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}
impl std::error::Error for ParseError {}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Bool(bool),
    Null,
    Str(String),
}
pub fn env_literal(raw: &str) -> EnvValue {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "(true)" => EnvValue::Bool(true),
        "false" | "(false)" => EnvValue::Bool(false),
        "null" | "(null)" => EnvValue::Null,
        "empty" | "(empty)" => EnvValue::Str(String::new()),
        _ => EnvValue::Str(raw.to_string()),
    }
}
pub fn parse(
    content: &str,
    _lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            return Err(ParseError {
                line: i + 1,
                message: "no =".into(),
            });
        };
        let v = v.trim().trim_matches('"').to_string();
        out.push((k.trim().to_string(), Some(v)));
    }
    Ok(out)
}
