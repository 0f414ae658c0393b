use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

use super::*;

fn cpu(index: usize) -> DeviceInfo {
    DeviceInfo {
        backend: "cpu".into(),
        index,
        ..Default::default()
    }
}

/// The single warning `claim_in` recorded on `device`.
fn only_warning(device: &DeviceInfo) -> String {
    let list = device.extra["warnings"].as_array().expect("a warning list");
    assert_eq!(list.len(), 1, "{list:?}");
    list[0].as_str().unwrap().to_string()
}

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Gives `path` to uid 65534 (nobody); false when this process may not (not root).
fn give_away(path: &Path) -> bool {
    dir::euid() == 0 && std::os::unix::fs::lchown(path, Some(65534), Some(65534)).is_ok()
}

#[test]
fn second_claim_on_one_device_warns_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = cpu(7);
    let mut b = a.clone();
    let held = claim_in(dir.path(), &mut a);
    assert!(held.is_some());
    assert!(a.extra.is_empty());
    // flock locks belong to the open file description: a second open conflicts even
    // within one process, as it would from another run.
    assert!(claim_in(dir.path(), &mut b).is_none());
    let w = only_warning(&b);
    assert!(
        w.contains(&format!("pid {}", std::process::id()))
            && w.contains("cpu device 7")
            && !w.contains("not told"),
        "{w}"
    );
    // The holder hears of the second run once, and of nothing else.
    let mut held = held;
    let told = held.as_mut().unwrap().intruders(&a);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains(&format!("pid {}", std::process::id()))
            && told[0].contains("started on cpu device 7 while this run measured"),
        "{told:?}"
    );
    assert!(held.as_mut().unwrap().intruders(&a).is_empty());
    assert!(!note_intruders(&mut held, &mut a) && a.extra.is_empty());
    let mut d = a.clone();
    assert!(claim_in(dir.path(), &mut d).is_none());
    assert!(note_intruders(&mut held, &mut a));
    assert_eq!(a.extra["warnings"].as_array().unwrap().len(), 1);
    drop(held);
    let mut c = cpu(7);
    let mut again = claim_in(dir.path(), &mut c);
    assert!(again.is_some(), "released when the holder drops it");
    // A new holder does not inherit the old holder's intruders.
    assert!(!note_intruders(&mut again, &mut c));
    // The lock file holds the holder's line and is private.
    let lock = dir.path().join("cpu-7.lock");
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(
        text.starts_with(&format!("pid {} since ", std::process::id())),
        "{text}"
    );
    assert_eq!(std::fs::metadata(&lock).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn a_planted_link_at_the_lock_is_refused_and_its_target_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = elsewhere.path().join("victim.conf");
    let content = b"root:x:0:0:do not truncate me\n";
    std::fs::write(&victim, content).unwrap();
    let lock = dir.path().join("cpu-0.lock");
    symlink(&victim, &lock).unwrap();
    let mut dev = cpu(0);
    assert!(claim_in(dir.path(), &mut dev).is_none());
    assert_eq!(std::fs::read(&victim).unwrap(), content);
    assert_eq!(
        only_warning(&dev),
        format!(
            "the device lock {} is a symbolic link, not a regular file, so it is not used; \
             a concurrent hotpath run on this device would go unnoticed",
            lock.display()
        )
    );
    // A dangling link is not followed to create its target either.
    let nothing = elsewhere.path().join("created-through-a-link");
    symlink(&nothing, dir.path().join("cpu-1.lock")).unwrap();
    let mut dev = cpu(1);
    assert!(claim_in(dir.path(), &mut dev).is_none());
    assert!(!nothing.exists());
    assert!(only_warning(&dev).contains("is a symbolic link"));
}

#[test]
fn a_planted_link_at_the_note_is_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = elsewhere.path().join("victim");
    std::fs::write(&victim, "unchanged\n").unwrap();
    let note = dir.path().join("cpu-3.lock.intruders");
    symlink(&victim, &note).unwrap();
    let mut a = cpu(3);
    let mut held = claim_in(dir.path(), &mut a);
    assert!(held.is_some());
    let mut b = cpu(3);
    assert!(claim_in(dir.path(), &mut b).is_none());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "unchanged\n");
    let w = only_warning(&b);
    assert!(
        w.contains("is measuring cpu device 3 right now")
            && w.ends_with(&format!(
                "; the run holding the lock is not told, because the note {} is a symbolic link, \
                 not a regular file",
                note.display()
            )),
        "{w}"
    );
    // The holder does not read through the link either.
    assert!(!note_intruders(&mut held, &mut a));
}

#[test]
fn a_fifo_a_directory_or_a_hard_link_at_the_lock_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A FIFO would block a plain open for writing until someone reads it.
    mkfifo(&dir.path().join("cpu-0.lock"));
    let mut dev = cpu(0);
    assert!(claim_in(dir.path(), &mut dev).is_none());
    assert!(
        only_warning(&dev).contains("cpu-0.lock is a FIFO, not a regular file"),
        "{dev:?}"
    );

    std::fs::create_dir(dir.path().join("cpu-1.lock")).unwrap();
    let mut dev = cpu(1);
    assert!(claim_in(dir.path(), &mut dev).is_none());
    assert!(
        only_warning(&dev).contains("cpu-1.lock is a directory, not a regular file"),
        "{dev:?}"
    );

    // A hard link to a file elsewhere (same file system) would be written like a link.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    std::fs::hard_link(&victim, dir.path().join("cpu-2.lock")).unwrap();
    let mut dev = cpu(2);
    assert!(claim_in(dir.path(), &mut dev).is_none());
    assert!(
        only_warning(&dev).contains("cpu-2.lock is a hard link (2 names)"),
        "{dev:?}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
}

#[test]
fn a_lock_file_of_another_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("cpu-0.lock");
    std::fs::write(&lock, "theirs\n").unwrap();
    if !give_away(&lock) {
        eprintln!("not root: a file of another user cannot be made here");
        return;
    }
    let mut dev = cpu(0);
    assert!(claim_in(dir.path(), &mut dev).is_none());
    assert!(
        only_warning(&dev).contains("cpu-0.lock belongs to uid 65534, not to this user (uid 0)"),
        "{dev:?}"
    );
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), "theirs\n");
}

#[test]
fn a_lock_directory_others_can_write_or_that_is_a_link_or_not_ours_is_refused() {
    let parent = tempfile::tempdir().unwrap();
    let open = parent.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let mut dev = cpu(0);
    assert!(claim_in(&open, &mut dev).is_none());
    assert_eq!(
        only_warning(&dev),
        format!(
            "the lock directory {} is writable by group or others (mode 1777); only its owner \
             may write it, so no device lock is taken; a concurrent hotpath run on this device \
             would go unnoticed",
            open.display()
        )
    );
    assert!(!open.join("cpu-0.lock").exists(), "nothing made in it");

    let real = parent.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = parent.path().join("link");
    symlink(&real, &link).unwrap();
    let mut dev = cpu(0);
    assert!(claim_in(&link, &mut dev).is_none());
    assert!(
        only_warning(&dev).contains("is a symbolic link, not a directory"),
        "{dev:?}"
    );
    assert!(!real.join("cpu-0.lock").exists());

    // Another user's directory: root gives one away; anyone else finds `/` is root's.
    let theirs = if dir::euid() == 0 {
        let d = parent.path().join("theirs");
        std::fs::create_dir(&d).unwrap();
        assert!(give_away(&d));
        d
    } else {
        PathBuf::from("/")
    };
    let mut dev = cpu(0);
    assert!(claim_in(&theirs, &mut dev).is_none());
    assert!(only_warning(&dev).contains("belongs to uid "), "{dev:?}");
    assert!(!theirs.join("cpu-0.lock").exists());
}

#[test]
fn a_missing_lock_directory_is_made_private() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("a/locks");
    let mut dev = cpu(0);
    let held = claim_in(&dir, &mut dev);
    assert!(held.is_some(), "{dev:?}");
    let m = std::fs::symlink_metadata(&dir).unwrap();
    assert!(m.is_dir());
    assert_eq!(m.mode() & 0o777, 0o700);
}

#[test]
fn root_locks_in_run_and_every_other_user_in_a_directory_of_its_own() {
    let tmp = Path::new("/scratch");
    assert_eq!(default_dir(0, true, tmp), PathBuf::from("/run/hotpath"));
    assert_eq!(
        default_dir(0, false, tmp),
        PathBuf::from("/scratch/hotpath-locks-0")
    );
    assert_eq!(
        default_dir(1000, true, tmp),
        PathBuf::from("/scratch/hotpath-locks-1000")
    );
}
