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

/// `sh -c CMD` with `json` on stdin, a minimal environment and a time limit that starts at
/// once (stdin is written by a thread: a hook that never reads it cannot hold the run). The
/// hook runs in a process group of its own, killed whole at the limit, so a background job of
/// it cannot keep our output open; its output goes to our stderr, never into `--json`'s stdout.
fn run_hook(cmd: &str, json: &str) -> Result<(), String> {
    use std::os::fd::AsFd;
    use std::os::unix::process::CommandExt;
    let to_stderr = || {
        std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null())
    };
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(cmd)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(to_stderr())
        .stderr(to_stderr())
        .process_group(0);
    for var in HOOK_ENV {
        if let Some(v) = std::env::var_os(var) {
            command.env(var, v);
        }
    }
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let group = child.id() as i32;
    if let Some(mut stdin) = child.stdin.take() {
        let text = format!("{json}\n");
        // A hook that does not read its stdin is its own business; the writer ends with it.
        std::thread::spawn(move || {
            let _ = stdin.write_all(text.as_bytes());
        });
    }
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("exited with {status}")),
            Ok(None) if started.elapsed() > HOOK_TIMEOUT => {
                // SAFETY: kill(2) with a negative pid signals that process group, ours alone
                // (made by process_group(0) above).
                unsafe {
                    libc::kill(-group, libc::SIGKILL);
                }
                let _ = child.wait();
                return Err(format!(
                    "still running after {} s; stopped with everything it started",
                    HOOK_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e.to_string()),
        }
    }
}
