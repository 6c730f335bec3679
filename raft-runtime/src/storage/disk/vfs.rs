//! The few file operations the disk storage needs, behind a trait, so that crash tests can run
//! it on a simulated file system that loses whatever was not synced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// File operations on one directory tree. Paths are absolute or relative to the process.
pub trait Vfs: Send + Sync + 'static {
    /// Creates `dir` and any missing parents; succeeds if it exists already.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// File names (not paths) in `dir`, in no particular order.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// The whole contents of `path`; fails with `ErrorKind::NotFound` if there is no such file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The file `path`, open to read from anywhere in it; it stays readable if it is removed
    /// or replaced meanwhile. Fails with `ErrorKind::NotFound` if there is no such file.
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn FileRead>>;
    /// Appends to `path`, creating it if missing. Not durable until `sync`.
    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Writes `data` at `offset` of the existing file `path`, extending it if the write reaches
    /// past its end. Not durable until `sync`.
    fn write_at(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Makes the existing file `path` at least `len` bytes long, the new bytes reading as zeros
    /// and their space allocated, so that later writes within it change neither the file's
    /// size nor its block map and a sync flushes data only. Not durable until `sync`. A file
    /// system may keep the default, which does nothing (the file then grows as it is written).
    fn preallocate(&self, path: &Path, len: u64) -> io::Result<()> {
        let _ = (path, len);
        Ok(())
    }
    /// Cuts `path` to `len` bytes.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Makes the contents of `path` durable (fdatasync).
    fn sync(&self, path: &Path) -> io::Result<()>;
    /// Renames `from` to `to`, replacing any file at `to`. Not durable until `sync_dir`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Deletes the file `path`. Not durable until `sync_dir`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `dir`, held until the returned guard is dropped; fails with
    /// `ErrorKind::WouldBlock` at once if someone else holds it. A file system with no other
    /// users (a test's simulated one) may keep the default, which locks nothing.
    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
        let _ = dir;
        Ok(DirLock { _file: None })
    }
}

/// A file open for reading.
pub trait FileRead: Send + Sync {
    /// Fills `buf` from `offset`; fails with `ErrorKind::UnexpectedEof` if the file ends first.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// The file's length.
    fn size(&self) -> io::Result<u64>;
}

impl FileRead for File {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

/// The name of the file whose lock guards a data directory.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// An exclusive lock on a data directory, released when dropped.
#[derive(Debug)]
pub struct DirLock {
    /// Kept open only to hold the lock; closing it releases the lock.
    _file: Option<File>,
}

impl DirLock {
    /// A lock held through `file` (locked by its owner), released when the file is closed.
    pub fn from_locked_file(file: File) -> DirLock {
        DirLock { _file: Some(file) }
    }
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

impl Vfs for RealFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in fs::read_dir(dir)? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn FileRead>> {
        Ok(Box::new(File::open(path)?))
    }

    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut f = OpenOptions::new().create(true).append(true).open(path)?;
        f.write_all(data)
    }

    fn write_at(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(path)?;
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::write_all_at(&f, data, offset)
        }
        #[cfg(not(unix))]
        {
            use std::io::{Seek, SeekFrom};
            let mut f = f;
            f.seek(SeekFrom::Start(offset))?;
            f.write_all(data)
        }
    }

    /// `fallocate` on Linux (where it is supported by the file system); elsewhere nothing.
    fn preallocate(&self, path: &Path, len: u64) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let f = OpenOptions::new().write(true).open(path)?;
            let len = libc::off_t::try_from(len)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
            // SAFETY: the descriptor is open for the duration of the call; fallocate touches
            // nothing in this process's memory.
            let r = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, len) };
            if r != 0 {
                let e = io::Error::last_os_error();
                // A file system without it: the file grows as it is written, as elsewhere.
                if e.raw_os_error() != Some(libc::EOPNOTSUPP) {
                    return Err(e);
                }
            }
        }
        let _ = (path, len);
        Ok(())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        OpenOptions::new().write(true).open(path)?.set_len(len)
    }

    fn sync(&self, path: &Path) -> io::Result<()> {
        OpenOptions::new().write(true).open(path)?.sync_data()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    /// An advisory lock (`flock`) on `dir/LOCK`: it ends with the process, however that ends,
    /// so a crashed node never leaves its directory locked.
    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock::from_locked_file(file)),
            Err(fs::TryLockError::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// Writes `data` to `path` atomically: a temporary file, synced, renamed over `path`, and the
/// directory synced, so a crash leaves either the old contents or the new, never a mix.
pub fn write_atomic(fs: &dyn Vfs, path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    let _ = fs.remove(&tmp);
    fs.append(&tmp, data)?;
    fs.sync(&tmp)?;
    fs.rename(&tmp, path)?;
    fs.sync_dir(path.parent().unwrap_or(Path::new(".")))
}
