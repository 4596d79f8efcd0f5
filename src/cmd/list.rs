//! `db-backup list`: the backups in the app's backups folder (or the copies on a disk),
//! newest first.

use chrono::Utc;

use crate::error::Result;
use crate::laravel::Target;
use crate::store::catalog::{self, Entry};
use crate::store::remote::{Disk, Trust};
use crate::store::Kind;

/// The backups of the target's folder, newest first.
pub fn run(target: &Target) -> Result<Vec<Entry>> {
    catalog::list(&target.backups_dir, target.tz)
}

/// The copies on a disk, newest first (names with their transform suffix), foreign ones marked,
/// and warnings about what the listing passed over.
pub fn on_disk(target: &Target, disk: &dyn Disk) -> Result<(Vec<Entry>, Vec<String>)> {
    let judge = super::disks::judge(target)?;
    let listing = disk.list()?;
    let mut objects = listing.objects;
    objects.sort_by(|a, b| (b.backup.taken_at, &b.name).cmp(&(a.backup.taken_at, &a.name)));
    let now = Utc::now().with_timezone(&target.tz).naive_local();
    let entries = objects
        .into_iter()
        .map(|o| Entry {
            foreign: match judge.trust(&o) {
                Trust::Ours => None,
                Trust::Foreign(why) => Some(why),
            },
            kind: Kind::of_path(std::path::Path::new(&o.backup.name)),
            size_bytes: o.size,
            taken_at: o.backup.taken_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            age_seconds: (now - o.backup.taken_at).num_seconds(),
            name: o.name,
        })
        .collect();
    Ok((entries, listing.warnings))
}
