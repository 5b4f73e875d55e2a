use super::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn write_replaces_atomically_keeping_the_owner_and_making_it_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.csv");
    write(&path, b"one").unwrap();
    assert_eq!((std::fs::read(&path).unwrap(), mode(&path)), (b"one".to_vec(), 0o600));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&path, Some(4242), Some(4343)).unwrap();
    }
    let before = std::fs::metadata(&path).unwrap();
    write(&path, b"two").unwrap();
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!((std::fs::read(&path).unwrap(), mode(&path)), (b"two".to_vec(), 0o600));
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    assert_ne!(after.ino(), before.ino(), "replaced by rename, not rewritten in place");
}

#[test]
fn h1_links_and_unsafe_directories_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    assert!(matches!(write(&link, b"x"), Err(FileError::Symlink(_))));
    let (d, name) = SecretDir::of(&link, false).unwrap();
    assert!(matches!(d.read(&name), Err(FileError::Symlink(_))));
    assert!(matches!(d.append(&name), Err(FileError::Symlink(_))));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = write(&open.join("f"), b"x").unwrap_err();
    assert!(matches!(e, FileError::UnsafeDir { mode: 0o777, .. }) && e.is_refusal(), "{e}");
    assert!(!open.join("f").exists());
    assert!(matches!(split(Path::new("/")), Err(FileError::NoName(_))));
    assert!(matches!(split(Path::new("a/..")), Err(FileError::NoName(_))));
}

#[test]
fn append_makes_a_private_file_and_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (d, name) = SecretDir::of(&dir.path().join("audit.jsonl"), false).unwrap();
    for line in ["a\n", "b\n"] {
        use std::io::Write;
        d.append(&name).unwrap().write_all(line.as_bytes()).unwrap();
    }
    let path = dir.path().join("audit.jsonl");
    assert_eq!((std::fs::read_to_string(&path).unwrap(), mode(&path)), ("a\nb\n".into(), 0o600));
}
