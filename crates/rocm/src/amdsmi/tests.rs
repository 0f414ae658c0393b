//! Tests of the loader, version decoding, the list calls and the readings without AMD SMI.

use super::*;

#[test]
fn a_missing_library_names_what_was_looked_for() {
    let names = vec![
        "libamd_smi-definitely-not-here.so".to_string(),
        "/nope/rocm/lib/libamd_smi.so".to_string(),
    ];
    let err = AmdSmi::load_from(&Candidates::from_value(AMD_SMI_ENV, None, names))
        .err()
        .unwrap();
    assert_eq!(
        err,
        "AMD SMI not found (looked for libamd_smi-definitely-not-here.so, \
         /nope/rocm/lib/libamd_smi.so)"
    );
    let chosen = Candidates::from_value(AMD_SMI_ENV, Some("/nope/libamd_smi.so"), vec![]);
    assert_eq!(
        AmdSmi::load_from(&chosen).err().unwrap(),
        "AMD SMI not found (looked for /nope/libamd_smi.so, from HOTPATH_AMD_SMI_LIBRARY)"
    );
}

#[test]
fn candidates_cover_every_rocm_directory_newest_first() {
    let opt = tempfile::tempdir().unwrap();
    for d in ["rocm", "rocm-6.1.0", "rocm-6.2.0", "intel"] {
        std::fs::create_dir_all(opt.path().join(d).join("lib")).unwrap();
    }
    let got = candidates(opt.path());
    let o = opt.path().display();
    let mut want: Vec<String> = SMI_NAMES.iter().map(|s| s.to_string()).collect();
    want.push(format!("{o}/rocm/lib/libamd_smi.so"));
    want.push(format!("{o}/rocm-6.2.0/lib/libamd_smi.so"));
    want.push(format!("{o}/rocm-6.1.0/lib/libamd_smi.so"));
    assert_eq!(got, want);
    // No /opt at all: the plain names and /opt/rocm/lib still.
    let none = candidates(&opt.path().join("absent"));
    assert_eq!(none.len(), SMI_NAMES.len() + 1);
}

#[test]
fn this_machine_has_amd_smi_or_says_what_it_looked_for() {
    match AmdSmi::load() {
        Err(why) => assert!(
            (why.starts_with("AMD SMI not found (looked for libamd_smi.so, libamd_smi.so.26")
                && why.contains("/opt/rocm/lib/libamd_smi.so"))
                || why.contains("failed to initialise"),
            "{why}"
        ),
        Ok(smi) => assert!(!smi.path.is_empty()),
    }
}

#[test]
fn both_version_schemes_decode() {
    let v = LibVersion::from_words([24, 7, 0, 0]);
    assert_eq!(v.to_string(), "24.7.0.0");
    assert!(v.pcie_layout_known());
    assert!(
        !LibVersion::from_words([24, 1, 0, 0]).pcie_layout_known(),
        "24.1: old struct"
    );
    assert!(!LibVersion::from_words([23, 4, 0, 0]).pcie_layout_known());
    let v = LibVersion::from_words([26, 1, 0, 0]);
    assert_eq!(v.to_string(), "26.1.0");
    assert!(v.pcie_layout_known());
    assert!(
        !LibVersion::from_words([25, 0, 0, 0]).pcie_layout_known(),
        "25.x: unread"
    );
    assert!(
        !LibVersion::from_words([27, 0, 0, 0]).pcie_layout_known(),
        "27: new ABI"
    );
}

#[test]
fn lists_are_asked_for_twice_and_cut_to_what_was_written() {
    // A fake with amdsmi's behaviour: a null buffer gets the count; a buffer gets at most
    // `*count` handles and `*count` set to the number written.
    let items: Vec<Raw> = vec![0x10 as Raw, std::ptr::null_mut(), 0x30 as Raw];
    let mut calls = 0;
    let got = two_call_list(|n, out| {
        calls += 1;
        // SAFETY: the pointers come from two_call_list and are valid as documented.
        unsafe {
            if out.is_null() {
                *n = items.len() as u32;
            } else {
                let k = (*n as usize).min(items.len());
                for (i, item) in items.iter().take(k).enumerate() {
                    *out.add(i) = *item;
                }
                *n = k as u32;
            }
        }
        SUCCESS
    })
    .unwrap();
    assert_eq!(calls, 2);
    assert_eq!(got, items);
    let kept: Vec<Processor> = got.into_iter().filter_map(Processor::new).collect();
    assert_eq!(
        kept.len(),
        2,
        "the null handle is dropped before any call can use it"
    );
    assert!(kept.iter().all(|p| !p.as_ptr().is_null()));
    // An error status on the count call is returned, and the fill call never made.
    let mut fills = 0;
    let err = two_call_list(|_, out| {
        if !out.is_null() {
            fills += 1;
        }
        32 // AMDSMI_STATUS_NOT_INIT
    });
    assert_eq!(err, Err(32));
    assert_eq!(fills, 0);
    // A count of zero makes no second call.
    let mut calls = 0;
    assert_eq!(
        two_call_list(|n, _| {
            calls += 1;
            // SAFETY: `n` is valid for writes.
            unsafe { *n = 0 };
            SUCCESS
        }),
        Ok(vec![])
    );
    assert_eq!(calls, 1);
}

#[test]
fn without_amd_smi_the_readings_come_from_sysfs() {
    // On a machine without AMD SMI (this one) neither the clock nor telemetry's slow
    // readings come from it: the callers read sysfs instead.
    if amd_smi().is_ok() {
        return;
    }
    assert_eq!(clock(Bdf::parse("0000:c1:00.0")), None);
    assert!(mem_and_temperature(Bdf::parse("0000:c1:00.0")).is_none());
}
