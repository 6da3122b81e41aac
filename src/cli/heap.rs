//! The heap of a short read command on transparent huge pages (Linux with glibc only).
//!
//! A command such as `kith digest` on a large vault touches 5–10 MiB of fresh heap: redb's
//! page buffers, the rows it reads, the lines it prints. On 4 KiB pages that is one page fault
//! per page, and on a virtual machine a fault costs about 2 µs (measured on the benchmark
//! machine): some 950 faults, a sixth of the command's time. On 2 MiB pages it is a handful.
//!
//! glibc grows its main heap with `brk`, and a region gets huge pages only if it was marked
//! with `madvise(MADV_HUGEPAGE)` (the kernels' usual `madvise` mode) while it is mapped and
//! before any of its 4 KiB pages was touched. So [`on_huge_pages`] makes glibc grow the heap
//! once by [`PAD`], marks the part of it no page of which is mapped yet, and moves the heap's
//! top to where that part starts (the bytes before it stay allocated, unused and unmapped), so
//! that what the command allocates from then on lands there.
//!
//! Only short read commands call it (`Ctx::open_read`, on the main thread): the sync daemon,
//! imports and the web server keep glibc's defaults, which return memory to the system as they
//! go. Nothing here is needed for correctness: when an assumption about the heap does not hold
//! the heap stays an ordinary one, and `KITH_NO_HUGE_HEAP=1` turns it off.

/// How far the heap grows at once (address space only: memory is used when it is touched).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const PAD: usize = 32 << 20;

/// Size and alignment of a transparent huge page on x86-64 and arm64 (4 KiB base pages).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const HUGE: usize = 2 << 20;

/// See the module documentation. Does its work once per process; later calls do nothing.
pub fn on_huge_pages() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("KITH_NO_HUGE_HEAP").is_some_and(|v| !v.is_empty()) {
            return;
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        advise_heap();
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn advise_heap() {
    // SAFETY: mallopt, malloc, realloc, free, sbrk(0) (which only reports the break) and madvise
    // are called with valid arguments. The block malloc returns is never read or written, and
    // is either freed or kept for good. The advised range lies inside the heap that sbrk
    // reports, past the block just allocated, and madvise only sets a flag on it.
    unsafe {
        // Allocations up to PAD come from the heap (glibc would map big ones on their own), and
        // the heap grows by PAD beyond each request and is trimmed only above twice that.
        libc::mallopt(libc::M_MMAP_THRESHOLD, PAD as libc::c_int);
        libc::mallopt(libc::M_TOP_PAD, PAD as libc::c_int);
        libc::mallopt(libc::M_TRIM_THRESHOLD, (2 * PAD) as libc::c_int);
        // A block bigger than what is free at the heap's top makes glibc grow the heap now.
        let before = libc::sbrk(0) as usize;
        let probe = libc::malloc(HUGE);
        if probe.is_null() {
            return;
        }
        let end = libc::sbrk(0) as usize;
        let at = probe as usize;
        // The block must be the main heap's, just grown (not another thread's arena).
        if end <= before || at < before.saturating_sub(HUGE) || at >= end {
            libc::free(probe);
            return;
        }
        // Growing the heap wrote the header of its new top right after the block: that page is
        // mapped now, and a 2 MiB block with any page mapped before the advice never gets a
        // huge page. The advised region starts at the 2 MiB block after that one.
        let start = ((at + HUGE) & !(HUGE - 1)) + HUGE;
        if end < start + HUGE {
            libc::free(probe);
            return;
        }
        // Growing the block in place (the top follows it) to end just before `start`, and
        // keeping it, makes the top, where new allocations come from, start there.
        if libc::realloc(probe, start - at - 64) != probe {
            return;
        }
        libc::madvise(
            start as *mut libc::c_void,
            (end - start) & !(HUGE - 1),
            libc::MADV_HUGEPAGE,
        );
    }
}

/// Test hook (`KITH_TEST_HEAP_REPORT`): the process's anonymous memory on huge pages, in
/// KiB, from `/proc/self/smaps_rollup` (None where that cannot be read).
pub fn huge_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("AnonHugePages:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
