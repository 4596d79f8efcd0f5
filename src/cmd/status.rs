//! `db-backup status`: are the backups healthy? The checks of `store::health` on the backups
//! folder and on each disk copies go to, the newest one verified on request, and the metrics
//! for Prometheus.

use chrono::{TimeZone, Utc};
use serde::Serialize;

use super::{disks, verify};
use crate::error::Result;
use crate::laravel::Target;
use crate::store::health::{self, Check, CheckKind, Sample, Thresholds};
use crate::store::{remote, retention};

/// What the user asked for; unset limits come from the app's settings, then the defaults.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub verify: bool,
    pub max_age: Option<chrono::Duration>,
    pub min_ratio: Option<f64>,
    pub max_total: Option<u64>,
}

/// The health of one place backups are kept in.
#[derive(Debug, Clone, Serialize)]
pub struct Place {
    /// `local`, or a disk's name.
    pub name: String,
    /// Where that is: the folder as shown to the user.
    pub location: String,
    pub healthy: bool,
    pub count: usize,
    /// The newest backup's name, time (Unix seconds) and size.
    pub newest: Option<Newest>,
    pub checks: Vec<Check>,
    /// What was passed over: foreign copies, names dated in the future, odd names.
    pub warnings: Vec<String>,
    /// With continuous backup: how long the oldest transaction not yet here has waited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_lag_seconds: Option<f64>,
}

/// The newest backup of a place, for the metrics.
#[derive(Debug, Clone, Serialize)]
pub struct Newest {
    pub name: String,
    pub taken_at_unix: i64,
    pub size_bytes: u64,
}

/// Every place's health.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub healthy: bool,
    pub places: Vec<Place>,
}

impl Status {
    /// How many checks failed, over every place.
    pub fn failed(&self) -> usize {
        self.places
            .iter()
            .flat_map(|p| &p.checks)
            .filter(|c| !c.ok)
            .count()
    }
}

/// Runs the checks on the backups folder.
pub fn run(target: &Target, req: &Request) -> Result<Status> {
    let defaults = Thresholds::default();
    let s = &target.settings;
    let thresholds = Thresholds {
        max_age: req
            .max_age
            .or(s.duration("max_age")?)
            .unwrap_or(defaults.max_age),
        min_ratio: req
            .min_ratio
            .or(s.ratio("min_ratio")?)
            .unwrap_or(defaults.min_ratio),
        max_total: req.max_total.or(s.size("max_total")?),
    };
    let mut local = local_place(target, &thresholds)?;
    if req.verify {
        if let Some(newest) = &local.newest {
            let path = target.backups_dir.join(&newest.name);
            local.checks.push(match verify::run(target, &path, &mut Vec::new()) {
                Ok(v) => Check {
                    check: CheckKind::Verified,
                    ok: true,
                    message: format!("newest backup {} verified ({})", newest.name, v.check),
                },
                Err(e) => Check {
                    check: CheckKind::Verified,
                    ok: false,
                    message: format!(
                        "newest backup {} does not verify: {e}; it would not restore: take a new backup now and find out why",
                        newest.name
                    ),
                },
            });
            local.healthy = local.checks.iter().all(|c| c.ok);
        }
    }
    let mut places = vec![local];
    for name in target.settings.disks() {
        places.push(disk_place(target, &name, &thresholds));
    }
    let max_lag = s
        .duration("max_lag")?
        .unwrap_or(chrono::Duration::seconds(60));
    replication(target, &mut places, max_lag);
    Ok(Status {
        healthy: places.iter().all(|p| p.healthy),
        places,
    })
}

/// With continuous backup in use (replicate has run: its status file is there), whether it
/// still runs and how far behind each place is; one more check per place.
fn replication(target: &Target, places: &mut [Place], max_lag: chrono::Duration) {
    let file = crate::store::changes::dir(&target.backups_dir).join(crate::store::changes::STATUS);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return;
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let now = Utc::now().timestamp_millis();
    let pid = json["pid"].as_u64().unwrap_or(0);
    let updated = json["updated_ms"].as_i64().unwrap_or(0);
    let alive = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|c| c.trim_end() == "db-backup");
    // It rewrites the file at every look: older than this, it is stuck or gone.
    let fresh = now - updated < 30_000;
    let max = max_lag.num_milliseconds();
    for p in places.iter_mut() {
        let since = if p.name == "local" {
            json["unshipped_since_ms"].as_i64()
        } else {
            json["disks"][&p.name]["waiting_since_ms"].as_i64()
        };
        let lag = since.map_or(0, |s| (now - s).max(0));
        p.replication_lag_seconds = Some(lag as f64 / 1000.0);
        let error = json["disks"][&p.name]["error"].as_str();
        let (ok, message) = if !alive || !fresh {
            (false, format!(
                "continuous backup is not running (replicate last looked {}s ago): start it again (systemctl start db-backup-replicate, or your Supervisor program); changes made since are only in the live database",
                (now - updated) / 1000
            ))
        } else if lag > max {
            (
                false,
                format!(
                    "continuous backup is {}s behind here (DB_BACKUP_MAX_LAG is {}s){}",
                    lag / 1000,
                    max / 1000,
                    error.map_or(String::new(), |e| format!(": {e}"))
                ),
            )
        } else {
            (
                true,
                format!(
                    "continuous backup is {:.1}s behind here",
                    lag as f64 / 1000.0
                ),
            )
        };
        p.checks.push(Check {
            check: CheckKind::Replication,
            ok,
            message,
        });
        p.healthy = p.checks.iter().all(|c| c.ok);
    }
}

/// The same checks on a disk's copies; a disk that cannot be read is one failed check.
fn disk_place(target: &Target, name: &str, t: &Thresholds) -> Place {
    let listed = disks::open(target, name)
        .and_then(|d| Ok((d.location(), d.list()?, disks::judge(target)?)));
    let (location, listing, judge) = match listed {
        Ok(found) => found,
        Err(e) => {
            return Place {
                name: name.to_string(),
                location: String::new(),
                healthy: false,
                count: 0,
                newest: None,
                checks: vec![Check {
                    check: CheckKind::Reachable,
                    ok: false,
                    message: format!(
                        "cannot read disk '{name}': {}; copies may have stopped: fix it, and the next db-backup run copies what is missing",
                        disks::reason(&e)
                    ),
                }],
                warnings: Vec::new(),
                replication_lag_seconds: None,
            }
        }
    };
    // Only the app's own copies count: a planted copy dated 2099 must not look fresh.
    let (ours, foreign) = disks::split(&judge, listing.objects);
    let mut warnings = listing.warnings;
    warnings.extend(disks::foreign_warning(name, &foreign));
    let samples: Vec<Sample> = ours
        .into_iter()
        .map(|o| Sample {
            taken_at: instant(target, &o.backup.taken_at),
            size: o.size,
            name: o.name,
        })
        .collect();
    let mut place = place(name, location, samples, t);
    place.warnings = warnings;
    place
}

/// The name holds the app's wall-clock time; an hour that happened twice (DST) is taken at its
/// first occurrence, one that never happened is taken as UTC.
fn instant(target: &Target, at: &chrono::NaiveDateTime) -> chrono::DateTime<Utc> {
    target
        .tz
        .from_local_datetime(at)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(at))
}

fn local_place(target: &Target, t: &Thresholds) -> Result<Place> {
    let dir = &target.backups_dir;
    let mut samples = Vec::new();
    let mut warnings = Vec::new();
    let now = Utc::now().with_timezone(&target.tz).naive_local();
    for b in retention::scan(dir)? {
        if b.taken_at > now + remote::FUTURE_SLACK {
            warnings.push(format!(
                "{} is dated in the future: not counted; check the clock, or remove it if it is not a backup of this app",
                b.name
            ));
            continue;
        }
        let path = dir.join(&b.name);
        // A backup deleted between the listing and now is simply not counted.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        samples.push(Sample {
            taken_at: instant(target, &b.taken_at),
            name: b.name,
            size: meta.len(),
        });
    }
    let mut place = place("local", target.display_path(dir), samples, t);
    place.warnings = warnings;
    Ok(place)
}

/// A place's checks and figures from its backups.
fn place(name: &str, location: String, samples: Vec<Sample>, t: &Thresholds) -> Place {
    let checks = health::check(&location, &samples, Utc::now(), t);
    let newest = samples
        .iter()
        .max_by(|a, b| (a.taken_at, &a.name).cmp(&(b.taken_at, &b.name)))
        .map(|s| Newest {
            name: s.name.clone(),
            taken_at_unix: s.taken_at.timestamp(),
            size_bytes: s.size,
        });
    Place {
        name: name.to_string(),
        healthy: checks.iter().all(|c| c.ok),
        count: samples.len(),
        newest,
        location,
        checks,
        warnings: Vec::new(),
        replication_lag_seconds: None,
    }
}
