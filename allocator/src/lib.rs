//! The node's process allocator and two settings that keep freed memory for reuse.
//!
//! The node binary and the load generator allocate Rust memory with mimalloc
//! ([`MiMalloc`], BENCHMARKS.md "Why the batched figure falls over a run"); RocksDB's C++
//! allocates with glibc's malloc. Under load a node frees and allocates tens of megabytes
//! every block: a block's write batch, the state tree's pages, a flush's rows. Left at their
//! defaults, both allocators hand much of that back to the kernel soon after it is freed, and
//! the next block's allocations take it back page by page, each page zeroed by the kernel
//! first. A profile of the saturated batched load put a tenth of the process's CPU in those
//! page faults. [`tune`] keeps freed memory in the process instead, and turns transparent
//! huge pages off (BENCHMARKS.md, "Freed memory kept for reuse"):
//!
//! - mimalloc's purge delay becomes "never" ([`PURGE_DELAY_NEVER`]) instead of one second:
//!   memory mimalloc has once taken from the kernel stays with the process, ready for the
//!   next allocation;
//! - glibc's malloc serves blocks up to [`GLIBC_MMAP_THRESHOLD`] from its heaps instead of
//!   mapping each afresh, and gives the free top of a heap back only beyond
//!   [`GLIBC_TRIM_THRESHOLD`];
//! - the process asks the kernel for no transparent huge pages (`PR_SET_THP_DISABLE`).
//!   mimalloc asks for them on its arenas by default, and a fault on such memory may wait
//!   while the kernel assembles a 2 MiB page. With the two settings above but huge pages left
//!   on, the p99 latency at half load was worse than with no setting at all; with huge pages
//!   off too, it was the best of the three.
//!
//! The cost is memory: a node's resident size stays near its high-water mark instead of
//! following its load down. Each setting is left alone when the environment sets it
//! (`MIMALLOC_PURGE_DELAY`; `GLIBC_TUNABLES` with a `glibc.malloc.` tunable, or
//! `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_`; `MIMALLOC_ALLOW_THP`), so an operator
//! who wants memory returned sooner sets, for example, `MIMALLOC_PURGE_DELAY=1000`.
//!
//! This is the only crate of the workspace that may use `unsafe`, and only for the calls
//! into the allocators' and the kernel's C functions below.

use std::ffi::{c_int, c_long};

pub use mimalloc::MiMalloc;

/// The purge delay [`tune`] sets: mimalloc's value for "never purge".
pub const PURGE_DELAY_NEVER: c_long = -1;

/// The largest block glibc's malloc serves from a heap once [`tune`] ran (32 MiB, the most
/// glibc accepts on 64-bit); larger blocks are mapped on their own. glibc's default starts
/// at 128 KiB and rises only as mapped blocks are freed.
pub const GLIBC_MMAP_THRESHOLD: c_int = 32 << 20;

/// How much free memory may sit at the top of a glibc heap before it is given back (256 MiB).
pub const GLIBC_TRIM_THRESHOLD: c_int = 256 << 20;

/// `mi_option_purge_delay` in the option enumeration of mimalloc 3 (the version the
/// `mimalloc` crate builds by default). Its default, [`MIMALLOC_PURGE_DELAY_DEFAULT`], is
/// checked before it is set, and a test checks both, so that a mimalloc with another
/// numbering fails loudly instead of changing some other option.
const MI_OPTION_PURGE_DELAY: c_int = 15;

/// mimalloc 3's default purge delay, in milliseconds.
const MIMALLOC_PURGE_DELAY_DEFAULT: c_long = 1000;

// mimalloc's C interface (mimalloc.h): an option is an `int`-sized enumeration value.
#[expect(unsafe_code, reason = "declares two of mimalloc's C functions")]
unsafe extern "C" {
    fn mi_option_get(option: c_int) -> c_long;
    fn mi_option_set(option: c_int, value: c_long);
}

/// What [`tune`] did with each allocator and with huge pages, for the node's start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    pub mimalloc: Outcome,
    pub glibc: Outcome,
    pub huge_pages: Outcome,
}

/// What [`tune`] did with one allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The setting was applied.
    Applied,
    /// The environment sets it; left as the environment says.
    FromEnvironment,
    /// Not applied: the allocator is not the one expected (another mimalloc option
    /// numbering, a C library other than glibc), or it or the kernel refused the value.
    NotApplied,
}

impl std::fmt::Display for Tuning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let say = |outcome: Outcome, applied: &'static str| match outcome {
            Outcome::Applied => applied,
            Outcome::FromEnvironment => "as the environment sets",
            Outcome::NotApplied => "the default",
        };
        write!(
            f,
            "freed memory: mimalloc {}, glibc {}; transparent huge pages {}",
            say(self.mimalloc, "kept for reuse"),
            say(self.glibc, "kept for reuse"),
            say(self.huge_pages, "off"),
        )
    }
}

/// Applies the three settings (see the crate's documentation). Call it early in `main`; the
/// allocators and the kernel take the change at any time, from any thread, and calling it
/// again changes nothing.
pub fn tune() -> Tuning {
    Tuning {
        mimalloc: tune_mimalloc(),
        glibc: tune_glibc(),
        huge_pages: no_huge_pages(),
    }
}

fn tune_mimalloc() -> Outcome {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some()
        || std::env::var_os("MIMALLOC_RESET_DELAY").is_some()
    {
        return Outcome::FromEnvironment;
    }
    #[expect(
        unsafe_code,
        reason = "mimalloc's option functions have no safe binding; see the SAFETY comment"
    )]
    // SAFETY: `mi_option_get` and `mi_option_set` take an option number and a value, no
    // pointers; mimalloc stores options in a static table and reads them atomically. The
    // number is inside mimalloc 3's enumeration, and its value is set only when it holds
    // the purge delay's default, so another numbering leaves every option untouched.
    unsafe {
        if mi_option_get(MI_OPTION_PURGE_DELAY) == PURGE_DELAY_NEVER {
            return Outcome::Applied;
        }
        if mi_option_get(MI_OPTION_PURGE_DELAY) != MIMALLOC_PURGE_DELAY_DEFAULT {
            return Outcome::NotApplied;
        }
        mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_NEVER);
    }
    Outcome::Applied
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_glibc() -> Outcome {
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if tunables.contains("glibc.malloc.")
        || std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
        || std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some()
    {
        return Outcome::FromEnvironment;
    }
    #[expect(
        unsafe_code,
        reason = "glibc's mallopt has no safe binding; see the SAFETY comment"
    )]
    // SAFETY: `mallopt` takes a parameter number and an integer, no pointers, and changes
    // malloc's parameters under malloc's own lock; both numbers are glibc's constants.
    let applied = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, GLIBC_MMAP_THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, GLIBC_TRIM_THRESHOLD) == 1
    };
    if applied {
        Outcome::Applied
    } else {
        Outcome::NotApplied
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_glibc() -> Outcome {
    Outcome::NotApplied
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn no_huge_pages() -> Outcome {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return Outcome::FromEnvironment;
    }
    #[expect(
        unsafe_code,
        reason = "prctl has no safe binding in the crates the node uses; see the SAFETY comment"
    )]
    // SAFETY: `PR_SET_THP_DISABLE` takes integer arguments only (1, then three zeros, as the
    // kernel requires) and sets a flag of this process; no memory is passed.
    let result = unsafe {
        libc::prctl(
            libc::PR_SET_THP_DISABLE,
            1 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if result == 0 {
        Outcome::Applied
    } else {
        Outcome::NotApplied
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn no_huge_pages() -> Outcome {
    Outcome::NotApplied
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number is mimalloc 3's purge delay: its default is the purge delay's, its
    /// neighbours' are not, and `tune` sets it to "never" (once or twice alike).
    #[test]
    fn the_purge_delay_is_the_option_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some()
            || std::env::var_os("MIMALLOC_RESET_DELAY").is_some()
        {
            assert_eq!(tune().mimalloc, Outcome::FromEnvironment);
            return;
        }
        #[expect(unsafe_code, reason = "reads options only; see the SAFETY comment")]
        // SAFETY: as in `tune_mimalloc`: option numbers in, values out, no pointers.
        let (before, neighbours) = unsafe {
            (
                mi_option_get(MI_OPTION_PURGE_DELAY),
                [
                    mi_option_get(MI_OPTION_PURGE_DELAY - 1),
                    mi_option_get(MI_OPTION_PURGE_DELAY + 1),
                ],
            )
        };
        assert!(
            before == MIMALLOC_PURGE_DELAY_DEFAULT || before == PURGE_DELAY_NEVER,
            "option {MI_OPTION_PURGE_DELAY} is {before}: not mimalloc 3's purge delay"
        );
        assert!(!neighbours.contains(&MIMALLOC_PURGE_DELAY_DEFAULT));
        assert_eq!(tune().mimalloc, Outcome::Applied);
        assert_eq!(tune().mimalloc, Outcome::Applied);
        #[expect(unsafe_code, reason = "reads an option only")]
        // SAFETY: as above.
        let after = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(after, PURGE_DELAY_NEVER);
    }

    /// glibc accepts both values (`mallopt` refuses a mapping threshold above its maximum).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_thresholds() {
        let expected = if std::env::var("GLIBC_TUNABLES")
            .unwrap_or_default()
            .contains("glibc.malloc.")
            || std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
            || std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some()
        {
            Outcome::FromEnvironment
        } else {
            Outcome::Applied
        };
        assert_eq!(tune().glibc, expected);
    }

    /// The kernel takes the request, and the process then reports huge pages off.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn huge_pages_are_turned_off() {
        if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
            assert_eq!(tune().huge_pages, Outcome::FromEnvironment);
            return;
        }
        assert_eq!(tune().huge_pages, Outcome::Applied);
        #[expect(unsafe_code, reason = "reads a flag of this process")]
        // SAFETY: `PR_GET_THP_DISABLE` takes no memory and returns the flag.
        let flag = unsafe {
            libc::prctl(
                libc::PR_GET_THP_DISABLE,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        assert_eq!(flag, 1);
    }

    #[test]
    fn the_log_line_says_what_was_done() {
        let tuning = Tuning {
            mimalloc: Outcome::Applied,
            glibc: Outcome::FromEnvironment,
            huge_pages: Outcome::NotApplied,
        };
        assert_eq!(
            tuning.to_string(),
            "freed memory: mimalloc kept for reuse, glibc as the environment sets; \
             transparent huge pages the default"
        );
    }
}
