//! hipBLASLt, the vendor GEMM on AMD, found at run time. hotpath does not drive it yet: its
//! enum values (data types, compute types, operations) changed between ROCm 6 and ROCm 7, and
//! no AMD node is available to verify a binding, so the backend says so instead of guessing.

use crate::hip::open_first;

/// Library names tried for hipBLASLt.
pub const BLASLT_NAMES: [&str; 4] = [
    "libhipblaslt.so",
    "libhipblaslt.so.1",
    "libhipblaslt.so.0",
    "/opt/rocm/lib/libhipblaslt.so",
];

/// Where hipBLASLt was found, or a sentence naming what was looked for.
pub fn available() -> Result<String, String> {
    open_first("hipBLASLt", &BLASLT_NAMES).map(|(_, path)| path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absence_is_a_sentence() {
        // Debian has no hipBLASLt; on a ROCm node this finds it.
        match available() {
            Ok(path) => assert!(path.contains("hipblaslt")),
            Err(e) => assert!(
                e.starts_with("hipBLASLt not found (looked for libhipblaslt.so"),
                "{e}"
            ),
        }
    }
}
