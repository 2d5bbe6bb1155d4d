//! The open database, opened again after an I/O error.
//!
//! After a write fails on I/O (a full disk, a file size limit, a read-only
//! remount), redb refuses every later transaction (`PreviousIo`) until the
//! file is closed and opened again. Left at that, one full disk would leave
//! the store unusable until the daemon restarts, even once space is back.
//! So the handle marks itself broken on such an error, and the next
//! transaction first closes and reopens the file (redb repairs it on open);
//! while that fails too, each transaction says why.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::Duration;

use redb::{Database, ReadTransaction, ReadableDatabase, WriteTransaction};

/// How long a reopen waits for transactions in flight to end.
const REOPEN_WAIT: Duration = Duration::from_secs(2);

/// The database of one file; see the module doc.
pub(crate) struct Handle {
    db: RwLock<Option<Database>>,
    path: PathBuf,
    broken: AtomicBool,
}

/// A transaction, holding the database open until it ends.
pub(crate) struct Txn<'a, T> {
    // Declared first: dropped before the guard.
    txn: T,
    _db: RwLockReadGuard<'a, Option<Database>>,
}

impl<T> std::ops::Deref for Txn<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.txn
    }
}

impl Txn<'_, WriteTransaction> {
    pub fn txn_mut(&mut self) -> &mut WriteTransaction {
        &mut self.txn
    }

    pub fn commit(self) -> Result<(), redb::CommitError> {
        self.txn.commit()
    }

    pub fn abort(self) -> Result<(), redb::StorageError> {
        self.txn.abort()
    }
}

/// Opens (or creates) the database file at `path`.
fn open(path: &Path) -> Result<Database, redb::DatabaseError> {
    Database::builder()
        // The data is small; redb's default cache cap is 1 GiB.
        .set_cache_size(16 * 1024 * 1024)
        .create(path)
}

impl Handle {
    pub fn open(path: &Path) -> Result<Handle, redb::DatabaseError> {
        Ok(Handle {
            db: RwLock::new(Some(open(path)?)),
            path: path.to_path_buf(),
            broken: AtomicBool::new(false),
        })
    }

    /// Notes an error of a transaction: after an I/O error the file must
    /// be reopened.
    pub fn note(&self, e: &redb::Error) {
        if matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo) {
            self.broken.store(true, Ordering::Release);
        }
    }

    pub fn begin_read(&self) -> Result<Txn<'_, ReadTransaction>, redb::Error> {
        self.begin(Database::begin_read)
    }

    pub fn begin_write(&self) -> Result<Txn<'_, WriteTransaction>, redb::Error> {
        self.begin(Database::begin_write)
    }

    /// A transaction `begin` starts on the database, reopened first if
    /// need be, holding it open until the transaction ends.
    fn begin<T>(
        &self,
        begin: impl FnOnce(&Database) -> Result<T, redb::TransactionError>,
    ) -> Result<Txn<'_, T>, redb::Error> {
        let db = self.database()?;
        let txn = match db.as_ref() {
            Some(d) => begin(d).map_err(|e| self.noted(e)),
            None => Err(redb::Error::PreviousIo),
        }?;
        Ok(Txn { txn, _db: db })
    }

    fn noted(&self, e: impl Into<redb::Error>) -> redb::Error {
        let e = e.into();
        self.note(&e);
        e
    }

    /// The database, reopened first if an I/O error broke it.
    fn database(&self) -> Result<RwLockReadGuard<'_, Option<Database>>, redb::Error> {
        if self.broken.load(Ordering::Acquire) {
            self.reopen()?;
        }
        Ok(self.db.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Closes the file and opens it again. Waits (a while) for the
    /// transactions in flight rather than blocking: one may be held by the
    /// caller's own thread.
    fn reopen(&self) -> Result<(), redb::Error> {
        let deadline = std::time::Instant::now() + REOPEN_WAIT;
        let mut db = loop {
            match self.db.try_write() {
                Ok(db) => break db,
                Err(std::sync::TryLockError::Poisoned(e)) => break e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {
                    if std::time::Instant::now() >= deadline {
                        return Err(redb::Error::PreviousIo);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        };
        if !self.broken.load(Ordering::Acquire) {
            // Another thread reopened it meanwhile.
            return Ok(());
        }
        // Closed first: the file is locked while open.
        *db = None;
        *db = Some(open(&self.path)?);
        self.broken.store(false, Ordering::Release);
        Ok(())
    }
}
