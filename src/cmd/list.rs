//! `db-backup list`: the backups in the app's backups folder, newest first.

use crate::error::Result;
use crate::laravel::Target;
use crate::store::catalog::{self, Entry};

/// The backups of the target's folder, newest first.
pub fn run(target: &Target) -> Result<Vec<Entry>> {
    catalog::list(&target.backups_dir, target.tz)
}
