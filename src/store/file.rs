//! The database as a file on disk: created private, and watched for deletion or replacement.
//! Nothing here knows SQL.
//!
//! feedwatch creates its state folder 0700 and the database 0600 (SQLite gives the `-wal` and
//! `-shm` files the database file's mode), so other local users cannot read the feeds, items
//! and alerts; a folder or file that already exists keeps its mode (the operator's choice).
//!
//! SQLite goes on writing to an open file after its path has been deleted or replaced, so an
//! `rm -r` of the state folder would pass unnoticed until a restart began an empty database
//! and alerted again on recent items. [`FileId`] remembers which file was opened, so the store
//! can tell, with one `stat`, whether its path still names it.

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Mode of a state folder feedwatch creates: only its owner may list or enter it.
const DIR_MODE: u32 = 0o700;
/// Mode of a database or lock file feedwatch creates: only its owner may read or write it.
pub(super) const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents with [`DIR_MODE`]; existing ones stay as they are.
pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Creates an empty database file with [`FILE_MODE`] unless one exists: SQLite would create it
/// 0644 (less the umask). An empty file is a valid empty SQLite database.
pub(super) fn create_private_file(path: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Which file a path names: its device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The file `path` names now.
    pub(super) fn of(path: &Path) -> std::io::Result<FileId> {
        let meta = std::fs::metadata(path)?;
        Ok(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// Whether `path` still names this file: `false` when it names another file or nothing.
    /// A `stat` that fails otherwise (a folder made unreadable) tells nothing either way:
    /// SQLite reports its own errors then.
    pub(super) fn still_at(self, path: &Path) -> bool {
        match FileId::of(path) {
            Ok(now) => now == self,
            Err(e) => !matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_still_at_its_path_until_deleted_or_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        create_private_file(&path).expect("create");
        let id = FileId::of(&path).expect("stat");
        assert!(id.still_at(&path));
        let moved = dir.path().join("moved");
        std::fs::rename(&path, &moved).expect("move away");
        assert!(!id.still_at(&path), "deleted");
        std::fs::write(&path, b"").expect("a new file at the path");
        assert!(!id.still_at(&path), "replaced");
        std::fs::rename(&moved, &path).expect("move back");
        assert!(id.still_at(&path), "restored");
        assert!(!id.still_at(&dir.path().join("db/below")), "not a folder");
    }
}
