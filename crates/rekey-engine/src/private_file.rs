//! Files that hold secrets (a credentials file and its backup, reports, audit exports), written
//! so that nobody else who can reach the directory can read the secret, redirect it, or swap
//! the file under rekey.
//!
//! Everything happens relative to one open directory handle: the directory is opened (made,
//! owner only, when missing) and checked once — a directory others may write to is refused
//! unless it is sticky and owned by rekey's user or root, because anyone who can rename files
//! in it can replace what rekey reads or writes. A name in it is never followed when it is a
//! symbolic link (refused) and only ever read when it is a regular file. A replacement is
//! written to a new file under a random name, created exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`:
//! a name planted in advance makes the create fail instead of being written through), made
//! 0600 and given the previous file's owner (when running as root) on the handle, synced,
//! renamed over the name and the directory synced.

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::{
    ffi::OsString,
    io::{Read, Write},
    os::fd::OwnedFd,
    path::{Path, PathBuf},
};
use zeroize::Zeroizing;

/// Why a secret file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The name is a symbolic link.
    #[error("{0} is a symbolic link; rekey does not read or write secrets through links")]
    Symlink(PathBuf),
    /// The name is something other than a regular file (a directory, a FIFO, a device).
    #[error("{0} is not a regular file")]
    NotRegular(PathBuf),
    /// Others may add, rename or remove files in the directory.
    #[error("directory {path} may be written by other users (mode {mode:04o}, owner uid {owner})")]
    UnsafeDir {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// Its owner.
        owner: u32,
    },
    /// The path names no file in a directory (`/`, `..`, empty).
    #[error("{0:?} does not name a file")]
    NoName(PathBuf),
    /// The operating system refused.
    #[error("{what} {path}: {source}")]
    Io {
        /// What rekey was doing.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

impl FileError {
    /// How to fix it.
    pub fn hint(&self) -> String {
        match self {
            Self::Symlink(_) => "name the real file instead of the link (or remove the link)".into(),
            Self::NotRegular(_) => "name a regular file (or a path where none exists yet)".into(),
            Self::UnsafeDir { path, .. } => format!(
                "use a directory only you may write to (chmod go-w {}), or a sticky one (chmod +t) that you own",
                path.display()
            ),
            Self::NoName(_) => "name a file, e.g. ~/.aws/credentials".into(),
            Self::Io { .. } => "check the path, its permissions and the free space".into(),
        }
    }

    /// Whether the path itself is unacceptable (as opposed to the system failing).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Self::Io { .. })
    }
}

impl From<FileError> for crate::Error {
    fn from(e: FileError) -> Self {
        if e.is_refusal() {
            crate::Error::usage(e.to_string(), e.hint())
        } else {
            crate::Error::Internal(e.to_string())
        }
    }
}

type Result<T> = std::result::Result<T, FileError>;

/// The owner a replacement gets: the previous file's, where rekey may give it (as root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// A file that exists under a checked name: its content and owner.
#[derive(Debug)]
pub struct Existing {
    /// The content (wiped on drop: it holds the previous secret).
    pub content: Zeroizing<Vec<u8>>,
    /// Its owner, for the replacement.
    pub owner: Owner,
}

/// An open, checked directory that secret files are read from and written to.
#[derive(Debug)]
pub struct SecretDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// The directory part and file name of `path`.
pub fn split(path: &Path) -> Result<(PathBuf, OsString)> {
    let name = match path.file_name() {
        Some(n) if path.components().next_back().is_some_and(|c| c.as_os_str() == n) => n.to_owned(),
        _ => return Err(FileError::NoName(path.to_owned())),
    };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Ok((dir.to_owned(), name))
}

impl SecretDir {
    /// Opens `dir` (made for the owner only, with missing parents, when `create`) and checks
    /// that others cannot change what is in it.
    pub fn open(dir: &Path, create: bool) -> Result<Self> {
        let io = |what, source| FileError::Io { what, path: dir.to_owned(), source };
        if create {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(|e| io("creating", e))?;
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(dir, flags, Mode::empty()).map_err(|e| io("opening", e.into()))?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| io("reading", e.into()))?;
        let mode = stat.st_mode & 0o7777;
        let us = rustix::process::geteuid().as_raw();
        let sticky_and_ours = mode & 0o1000 != 0 && (stat.st_uid == us || stat.st_uid == 0);
        if mode & 0o022 != 0 && !sticky_and_ours {
            return Err(FileError::UnsafeDir { path: dir.to_owned(), mode, owner: stat.st_uid });
        }
        Ok(Self { fd, path: dir.to_owned() })
    }

    /// Opens the directory of `path` (see [`SecretDir::open`]) and returns the file's name in it.
    pub fn of(path: &Path, create: bool) -> Result<(Self, OsString)> {
        let (dir, name) = split(path)?;
        Ok((Self::open(&dir, create)?, name))
    }

    fn at(&self, name: &std::ffi::OsStr) -> PathBuf {
        self.path.join(name)
    }

    /// Whether `name` exists; refuses a symbolic link or anything but a regular file.
    pub fn check(&self, name: &std::ffi::OsStr) -> Result<bool> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => match FileType::from_raw_mode(stat.st_mode) {
                FileType::RegularFile => Ok(true),
                FileType::Symlink => Err(FileError::Symlink(self.at(name))),
                _ => Err(FileError::NotRegular(self.at(name))),
            },
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(FileError::Io { what: "reading", path: self.at(name), source: e.into() }),
        }
    }

    /// The content and owner of regular file `name`, `None` when there is none; never follows
    /// a symbolic link and never opens anything else (a FIFO would hang the reader).
    pub fn read(&self, name: &std::ffi::OsStr) -> Result<Option<Existing>> {
        if !self.check(name)? {
            return Ok(None);
        }
        let io = |source| FileError::Io { what: "reading", path: self.at(name), source };
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP) => return Err(FileError::Symlink(self.at(name))),
            Err(e) => return Err(io(e.into())),
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| io(e.into()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(FileError::NotRegular(self.at(name)));
        }
        let mut content = Zeroizing::new(Vec::new());
        std::fs::File::from(fd).read_to_end(&mut content).map_err(io)?;
        Ok(Some(Existing { content, owner: Owner { uid: stat.st_uid, gid: stat.st_gid } }))
    }

    /// Replaces `name` with `content` atomically: readers see the old file or the new one,
    /// never a part; the new file is 0600 and, when running as root, owned by `owner`.
    pub fn replace(&self, name: &std::ffi::OsStr, content: &[u8], owner: Option<Owner>) -> Result<()> {
        self.check(name)?;
        let tmp = temp_name(name);
        let io = |what, source| FileError::Io { what, path: self.at(name), source };
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, &tmp, flags, Mode::RUSR | Mode::WUSR)
            .map_err(|e| io("creating a temporary file beside", e.into()))?;
        let written = self.fill(fd, content, owner).and_then(|()| {
            // Checked again just before the rename: a link put there meanwhile is refused too.
            self.check(name)?;
            rustix::fs::renameat(&self.fd, &tmp, &self.fd, name).map_err(|e| io("replacing", e.into()))
        });
        if let Err(e) = written {
            let _ = rustix::fs::unlinkat(&self.fd, &tmp, AtFlags::empty());
            return Err(e);
        }
        rustix::fs::fsync(&self.fd).map_err(|e| FileError::Io {
            what: "syncing",
            path: self.path.clone(),
            source: e.into(),
        })
    }

    /// Owner, mode, content and sync of a new file, all on its handle.
    fn fill(&self, fd: OwnedFd, content: &[u8], owner: Option<Owner>) -> Result<()> {
        let io = |what, source| FileError::Io { what, path: self.path.clone(), source };
        let mut file = std::fs::File::from(fd);
        if let Some(o) = owner.filter(|_| rustix::process::geteuid().is_root()) {
            std::os::unix::fs::fchown(&file, Some(o.uid), Some(o.gid)).map_err(|e| io("setting the owner in", e))?;
        }
        // After chown (which may clear mode bits) and whatever the umask left.
        let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
        file.set_permissions(private).map_err(|e| io("setting the mode in", e))?;
        file.write_all(content).map_err(|e| io("writing in", e))?;
        file.sync_all().map_err(|e| io("syncing in", e))
    }

    /// Opens `name` for appending (made 0600 when new), refusing a link or a non-regular file.
    pub fn append(&self, name: &std::ffi::OsStr) -> Result<std::fs::File> {
        self.check(name)?;
        let io = |source| FileError::Io { what: "opening", path: self.at(name), source };
        let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&self.fd, name, flags | OFlags::NONBLOCK, Mode::RUSR | Mode::WUSR) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::LOOP) => return Err(FileError::Symlink(self.at(name))),
            Err(e) => return Err(io(e.into())),
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| io(e.into()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(FileError::NotRegular(self.at(name)));
        }
        Ok(std::fs::File::from(fd))
    }
}

/// `.NAME.rekey-tmp-RANDOM`: unguessable, so nobody can plant it in advance.
fn temp_name(name: &std::ffi::OsStr) -> OsString {
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".rekey-tmp-{:016x}", rand::random::<u64>()));
    tmp
}

/// Writes `content` to `path` (see [`SecretDir::replace`]), keeping an existing file's owner.
pub fn write(path: &Path, content: &[u8]) -> Result<()> {
    let (dir, name) = SecretDir::of(path, false)?;
    let owner = dir.read_owner(&name)?;
    dir.replace(&name, content, owner)
}

impl SecretDir {
    fn read_owner(&self, name: &std::ffi::OsStr) -> Result<Option<Owner>> {
        if !self.check(name)? {
            return Ok(None);
        }
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(s) => Ok(Some(Owner { uid: s.st_uid, gid: s.st_gid })),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(FileError::Io { what: "reading", path: self.at(name), source: e.into() }),
        }
    }
}

#[cfg(test)]
mod tests;
