//! Which GPUs the kernel driver (KFD) lists, and their gfx targets, from its topology in
//! sysfs. One node per GPU die the runtime shows as a device: an MI250X is two nodes (two
//! GCDs), each its own HIP device with half the package's memory and compute units.

use std::path::Path;

use crate::hiprtc::target_from_version;

/// Where KFD's topology lives.
pub const KFD_NODES: &str = "/sys/class/kfd/kfd/topology/nodes";

/// gfx targets of the GPUs KFD lists, in node order (CPU nodes report 0 and are skipped).
pub fn kfd_targets() -> Vec<String> {
    kfd_targets_in(Path::new(KFD_NODES))
}

/// [`kfd_targets`] for a topology rooted at `nodes` (a directory of numbered node
/// directories, each with a `properties` file holding `gfx_target_version N`).
pub fn kfd_targets_in(nodes: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(nodes) else {
        return vec![];
    };
    let mut found: Vec<(u32, u32)> = entries
        .flatten()
        .filter_map(|e| {
            let id: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let props = std::fs::read_to_string(e.path().join("properties")).ok()?;
            let v = props
                .lines()
                .find_map(|l| l.strip_prefix("gfx_target_version "))?
                .trim()
                .parse()
                .ok()?;
            Some((id, v))
        })
        .filter(|(_, v)| *v > 0)
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|(_, v)| target_from_version(v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotpath_core::hardware::match_device;

    fn node(root: &Path, id: u32, gfx_target_version: u32) {
        let dir = root.join(id.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("properties"),
            format!("cpu_cores_count 0\nsimd_count 440\ngfx_target_version {gfx_target_version}\nlocation_id 0\n"),
        )
        .unwrap();
    }

    #[test]
    fn an_mi250x_is_two_gfx90a_devices() {
        // Node 0 is the host CPU (version 0); nodes 1 and 2 the two GCDs of one MI250X.
        let dir = tempfile::tempdir().unwrap();
        node(dir.path(), 0, 0);
        node(dir.path(), 2, 90010);
        node(dir.path(), 1, 90010);
        std::fs::create_dir_all(dir.path().join("not-a-node")).unwrap();
        assert_eq!(kfd_targets_in(dir.path()), vec!["gfx90a", "gfx90a"]);
        assert!(kfd_targets_in(&dir.path().join("absent")).is_empty());
    }

    #[test]
    fn each_mi250x_gcd_matches_the_half_package_hardware_file() {
        // The names a GCD reports: amdgpu.ids has 7408 "AMD Instinct MI250X" and
        // 740C "AMD Instinct MI250X / MI250".
        for name in ["AMD Instinct MI250X", "AMD Instinct MI250X / MI250"] {
            let s = match_device("rocm", name).unwrap().unwrap();
            assert_eq!(s.id, "mi250x-gcd", "{name}");
            // The datasheet's package figures, halved: 383 TF bf16/f16, 3.2 TB/s, 128 GB,
            // 220 CUs; the L2 is 8 MB per GCD.
            assert_eq!(s.peak_flops["bf16"], 383e12 / 2.0);
            assert_eq!(s.peak_flops["f16"], 383e12 / 2.0);
            assert_eq!(s.mem_bytes_per_s, Some(3.2e12 / 2.0));
            assert_eq!(s.memory_bytes, Some(128_000_000_000 / 2));
            assert_eq!(s.compute_units, Some(220 / 2));
            assert_eq!(s.llc_bytes, Some(8_000_000));
        }
        // Nothing else is taken for a GCD: an MI210 has no file, an MI300X its own.
        assert!(match_device("rocm", "AMD Instinct MI210")
            .unwrap()
            .is_none());
        assert_eq!(
            match_device("rocm", "AMD Instinct MI300X")
                .unwrap()
                .unwrap()
                .id,
            "mi300x"
        );
        // And a CUDA device never matches an AMD file.
        assert!(match_device("cuda", "AMD Instinct MI250X")
            .unwrap()
            .is_none());
    }
}
