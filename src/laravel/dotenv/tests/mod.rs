//! Tests of the `.env` reader: rules shared by every release (`rules_5_4`), what changed in
//! 5.5 to 5.8 (`releases`, partly ported from phpdotenv's own test suite), finding the app's
//! release and decoding its bytes (`app`), and the real phpdotenv releases as oracles
//! (`oracle`, and `fuzz` on random files).

mod app;
mod fuzz;
mod oracle;
mod releases;
mod rules_5_4;

fn no_env(_: &str) -> Option<String> {
    None
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}
