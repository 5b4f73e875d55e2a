//! The credentials file target: the profile edit, atomic delivery with a backup, and the
//! file-safety findings (H1).

use super::*;
use std::path::Path;

fn backup_path(p: &Path) -> PathBuf {
    PathBuf::from(format!("{}.rekey-backup", p.display()))
}

#[test]
fn replaces_only_the_named_profile() {
    let ini = "[default]\naws_access_key_id = A\nregion = eu-west-1\n[ci]\naws_access_key_id = OLD\naws_secret_access_key = OLDS\nregion = us-east-1\n";
    let out = replace_profile(ini, "ci", &[("aws_access_key_id", "NEW"), ("aws_secret_access_key", "NEWS")]);
    assert_eq!(
        out,
        "[default]\naws_access_key_id = A\nregion = eu-west-1\n[ci]\nregion = us-east-1\naws_access_key_id = NEW\naws_secret_access_key = NEWS\n"
    );
    assert_eq!(replace_profile(&out, "ci", &[("aws_access_key_id", "NEW"), ("aws_secret_access_key", "NEWS")]), out);
}

#[test]
fn appends_a_missing_profile() {
    let out = replace_profile("[default]\nx = 1\n", "ci", &[("aws_access_key_id", "K")]);
    assert_eq!(out, "[default]\nx = 1\n\n[ci]\naws_access_key_id = K\n");
    assert_eq!(replace_profile("", "ci", &[("k", "v")]), "[ci]\nk = v\n");
}

#[tokio::test]
async fn delivery_is_atomic_and_keeps_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials");
    std::fs::write(&path, "[ci]\naws_access_key_id = OLD\n").unwrap();
    let sink = CredentialsFile { path: path.clone(), profile: "ci".into() };
    let secret = Secret::new("s3cr3t");
    let conn = rekey_aws::Conn::new("us-east-1", None, rekey_aws::ConnCredentials::DefaultChain);
    let d = Delivery {
        account: "p/u/access-key",
        old_key_id: None,
        rotation_id: "r1",
        conn: &conn,
        key_id: Some("AKIANEW"),
        secret: &secret,
        clock: &rekey_domain::SystemClock,
    };
    sink.deliver(&d).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("aws_access_key_id = AKIANEW") && text.contains("aws_secret_access_key = s3cr3t"));
    assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), "[ci]\naws_access_key_id = OLD\n");
    // A fresh home: the missing directories are made, for the owner only.
    let fresh = dir.path().join("home").join(".aws").join("credentials");
    CredentialsFile { path: fresh.clone(), profile: "ci".into() }.deliver(&d).await.unwrap();
    assert!(std::fs::read_to_string(&fresh).unwrap().contains("aws_access_key_id = AKIANEW"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&fresh), 0o600);
        assert_eq!(mode(fresh.parent().unwrap()), 0o700, "~/.aws");
        assert_eq!(mode(&dir.path().join("home")), 0o700);
    }
}

/// Delivers key `AKIANEW` / secret `s3cr3t` to `path`'s profile `ci`.
async fn deliver(path: &Path) -> Result<()> {
    let secret = Secret::new("s3cr3t");
    let conn = rekey_aws::Conn::new("us-east-1", None, rekey_aws::ConnCredentials::DefaultChain);
    let d = Delivery {
        account: "p/u/access-key",
        old_key_id: None,
        rotation_id: "r1",
        conn: &conn,
        key_id: Some("AKIANEW"),
        secret: &secret,
        clock: &rekey_domain::SystemClock,
    };
    CredentialsFile { path: path.to_owned(), profile: "ci".into() }.deliver(&d).await
}

/// The check a rotation makes before it creates a key.
fn ready(path: &Path) -> Result<()> {
    CredentialsFile { path: path.to_owned(), profile: "ci".into() }.ready()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn set_mode(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// A file the attacker wants: it must stay as it was.
const VICTIM: &str = "[victim]\naws_access_key_id = AKIAVICTIM\n";

fn usage_naming(e: &Error, what: &str) -> bool {
    matches!(e, Error::Usage { .. }) && e.to_string().contains(what)
}

#[tokio::test]
async fn h1_a_symlinked_target_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, VICTIM).unwrap();
    set_mode(&victim, 0o644);
    let path = dir.path().join("credentials");
    std::os::unix::fs::symlink(&victim, &path).unwrap();
    assert!(usage_naming(&ready(&path).unwrap_err(), "symbolic link"));
    let e = deliver(&path).await.unwrap_err();
    assert!(usage_naming(&e, "symbolic link"), "{e}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), VICTIM);
    assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink(), "the link stays a link");
    assert!(!backup_path(&path).exists(), "the linked file was not copied into a backup");
    // A dangling link (the file rekey would create) is refused too.
    let dangling = dir.path().join("fresh");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
    assert!(usage_naming(&deliver(&dangling).await.unwrap_err(), "symbolic link"));
    assert!(!dir.path().join("nowhere").exists());
}

#[tokio::test]
async fn h1_a_symlinked_backup_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, VICTIM).unwrap();
    let path = dir.path().join("credentials");
    std::fs::write(&path, "[ci]\naws_access_key_id = OLD\n").unwrap();
    set_mode(&path, 0o600);
    std::os::unix::fs::symlink(&victim, backup_path(&path)).unwrap();
    assert!(usage_naming(&ready(&path).unwrap_err(), "symbolic link"));
    let e = deliver(&path).await.unwrap_err();
    assert!(usage_naming(&e, "symbolic link"), "{e}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), VICTIM, "nothing written through the link");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "[ci]\naws_access_key_id = OLD\n", "nothing changed");
}

#[tokio::test]
async fn h1_a_pre_created_temp_name_is_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, VICTIM).unwrap();
    set_mode(&victim, 0o644);
    let path = dir.path().join("credentials");
    std::fs::write(&path, "[ci]\naws_access_key_id = OLD\n").unwrap();
    // The names the temporary files used to have, planted as a link and as a readable file.
    std::os::unix::fs::symlink(&victim, dir.path().join(".credentials.rekey-tmp")).unwrap();
    let planted = dir.path().join(".credentials.rekey-backup.rekey-tmp");
    std::fs::write(&planted, "").unwrap();
    set_mode(&planted, 0o666);
    deliver(&path).await.unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), VICTIM, "the secret went through the planted link");
    assert_eq!(std::fs::read_to_string(&planted).unwrap(), "", "the secret went into the planted file");
    assert!(std::fs::read_to_string(&path).unwrap().contains("aws_secret_access_key = s3cr3t"));
    assert_eq!(mode(&path), 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("rekey-tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
}

#[tokio::test]
async fn h1_an_existing_0644_target_ends_0600_with_its_owner() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials");
    std::fs::write(&path, "[ci]\naws_access_key_id = OLD\n").unwrap();
    set_mode(&path, 0o644);
    let root = rustix::process::geteuid().is_root();
    if root {
        // As root, the file keeps the owner it had (the user whose credentials they are).
        std::os::unix::fs::chown(&path, Some(4242), Some(4343)).unwrap();
    }
    let before = std::fs::metadata(&path).unwrap();
    deliver(&path).await.unwrap();
    for p in [&path, &backup_path(&path)] {
        let after = std::fs::metadata(p).unwrap();
        assert_eq!(mode(p), 0o600, "{}", p.display());
        assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()), "{}", p.display());
    }
    assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), "[ci]\naws_access_key_id = OLD\n");
}

#[tokio::test]
async fn h1_a_directory_others_may_write_is_refused_unless_sticky_and_ours() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let path = shared.join("credentials");
    for m in [0o777, 0o770, 0o757] {
        set_mode(&shared, m);
        assert!(ready(&path).is_err(), "{m:o}");
        let e = deliver(&path).await.unwrap_err();
        assert!(usage_naming(&e, "may be written by other users"), "{m:o}: {e}");
        assert!(e.hint().unwrap_or_default().contains("chmod"), "{e:?}");
        assert!(!path.exists(), "{m:o}: written anyway");
    }
    // Sticky and ours (like a private /tmp): others cannot rename or remove our files.
    set_mode(&shared, 0o1777);
    ready(&path).unwrap();
    deliver(&path).await.unwrap();
    assert!(std::fs::read_to_string(&path).unwrap().contains("s3cr3t"));
    set_mode(&shared, 0o755);
    deliver(&path).await.unwrap();
}

#[tokio::test]
async fn h1_a_directory_or_fifo_target_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("credentials");
    std::fs::create_dir(&sub).unwrap();
    assert!(usage_naming(&deliver(&sub).await.unwrap_err(), "not a regular file"));
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    assert!(usage_naming(&deliver(&fifo).await.unwrap_err(), "not a regular file"));
    let binary = dir.path().join("binary");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    assert!(usage_naming(&deliver(&binary).await.unwrap_err(), "not a text (INI) file"));
    assert_eq!(std::fs::read(&binary).unwrap(), [0xff, 0xfe, 0x00, 0x80]);
}
