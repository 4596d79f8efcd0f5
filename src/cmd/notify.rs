//! Telling someone how a run went, beyond the terminal: the outcome as JSON in the file the
//! Artisan bridge asks for (it turns it into Laravel events), and `--on-failure CMD` for cron
//! without PHP. Neither ever carries the password.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The variable the bridge names its outcome file in.
pub const OUTCOME_FILE: &str = "DB_BACKUP_OUTCOME_FILE";

/// How long a failure hook may run before it is stopped: a hook must not hang cron.
const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// Variables a hook keeps; everything else (the app's secrets, the bridge's handover with the
/// password) is left out.
const HOOK_ENV: [&str; 7] = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME"];

/// Delivers `event` (one JSON object): to the bridge's outcome file when it asked for one, and
/// to `on_failure` when the run failed. Returns warnings about deliveries that did not work.
pub fn deliver(event: &serde_json::Value, failed: bool, on_failure: Option<&str>) -> Vec<String> {
    let mut warnings = Vec::new();
    let text = event.to_string();
    if let Some(path) = std::env::var_os(OUTCOME_FILE).filter(|p| !p.is_empty()) {
        if let Err(e) = std::fs::write(&path, &text) {
            warnings.push(format!(
                "could not write the outcome for the Artisan bridge to {}: {e}",
                std::path::Path::new(&path).display()
            ));
        }
    }
    if let (true, Some(cmd)) = (failed, on_failure) {
        if let Err(e) = run_hook(cmd, &text) {
            warnings.push(format!("--on-failure command: {e}"));
        }
    }
    warnings
}

/// `sh -c CMD` with `json` on stdin, a minimal environment and a time limit.
fn run_hook(cmd: &str, json: &str) -> Result<(), String> {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(cmd)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    for var in HOOK_ENV {
        if let Some(v) = std::env::var_os(var) {
            command.env(var, v);
        }
    }
    let mut child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is its own business.
        let _ = stdin
            .write_all(json.as_bytes())
            .and_then(|()| stdin.write_all(b"\n"));
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("exited with {status}")),
            Ok(None) if started.elapsed() > HOOK_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "still running after {} s; stopped",
                    HOOK_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e.to_string()),
        }
    }
}
