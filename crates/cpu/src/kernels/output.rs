//! Output buffers whose pages are already the process's when a benchmark is timed.
//!
//! `vec![0; n]` of a large buffer asks the allocator for zeroed memory, which Linux hands
//! out as pages mapped on first touch: the first sample that writes a rotation set's output
//! would time a page fault per 4 KiB (the 16M-element copy read 8 GB/s instead of 27 in
//! the runs that converged within their first samples). Every CPU kernel allocates the
//! outputs of its rotation sets here, so `prepare` takes the faults, once per page, and no
//! kernel has to be run over every set to take them.
//!
//! Every kernel also builds its rotation sets in parallel (`(0..sets).into_par_iter()`): a
//! cold plan rotates several times the last-level cache, gigabytes on a server CPU whose L3
//! is hundreds of megabytes, and the first touch of those pages is most of a cold
//! benchmark's preparation (a 16M-element copy rotating 6 GB: 5.6 s to 3.6-4.2 s of the whole
//! run on 2 cores).

/// The page size the touch steps by: the smallest Linux uses on x86_64 and aarch64, so a
/// larger page is touched more than once but never skipped.
const PAGE_BYTES: usize = 4096;

/// `len` default values whose every page has been written.
pub fn output_buffer<E: Copy + Default>(len: usize) -> Vec<E> {
    let mut v = vec![E::default(); len];
    let step = (PAGE_BYTES / std::mem::size_of::<E>().max(1)).max(1);
    for i in (0..len).step_by(step) {
        // An opaque value: the compiler cannot prove the store repeats the zero the
        // allocator promised, so it is made, and it maps the page.
        v[i] = std::hint::black_box(E::default());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many of the whole pages inside `v` are resident (`mincore`), and how many there are.
    fn resident_pages<E>(v: &[E]) -> (usize, usize) {
        let start = v.as_ptr() as usize;
        let end = start + std::mem::size_of_val(v);
        let first = start.div_ceil(PAGE_BYTES) * PAGE_BYTES;
        let pages = (end - first) / PAGE_BYTES;
        let mut flags = vec![0u8; pages];
        // SAFETY: [first, first + pages·PAGE_BYTES) lies inside `v`'s allocation, which is
        // mapped while `v` lives; `flags` has one byte per page.
        let rc = unsafe {
            libc::mincore(
                first as *mut libc::c_void,
                pages * PAGE_BYTES,
                flags.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "mincore failed");
        (flags.iter().filter(|f| *f & 1 == 1).count(), pages)
    }

    #[test]
    fn every_page_of_an_output_buffer_is_resident_and_zero() {
        // 64 MB: far above the allocator's mmap threshold, so it comes from fresh pages.
        let v: Vec<f32> = output_buffer(16 << 20);
        let (resident, pages) = resident_pages(&v);
        assert_eq!(resident, pages);
        assert!(pages >= 16_000);
        assert!(v.iter().all(|x| *x == 0.0));
        // The two-byte types and an odd length.
        let h: Vec<half::bf16> = output_buffer((8 << 20) + 3);
        let (resident, pages) = resident_pages(&h);
        assert_eq!(resident, pages);
        assert_eq!(h.len(), (8 << 20) + 3);
    }

    #[test]
    fn a_plain_zeroed_vec_is_not_resident_so_the_check_can_fail() {
        let v = vec![0f32; 16 << 20];
        let (resident, pages) = resident_pages(&v);
        assert!(resident < pages / 2, "{resident} of {pages} pages resident");
    }
}
