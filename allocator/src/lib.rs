//! The node's process allocator, and the setting that keeps its freed memory for reuse.
//!
//! The node binary and the load generator allocate Rust memory with mimalloc
//! ([`MiMalloc`], BENCHMARKS.md "Why the batched figure falls over a run"); RocksDB's C++
//! keeps glibc's malloc. Under load a node frees and allocates tens of megabytes every block:
//! a block's entries, the state tree's pages, a flush's rows. mimalloc gives memory that
//! stays free for a second back to the kernel, and the next allocations take it back page by
//! page, each page zeroed by the kernel first. A profile of the saturated batched load put a
//! tenth of the process's CPU in page faults, mimalloc's a good part of them. Two changes
//! (BENCHMARKS.md, "Freed memory kept for reuse"):
//!
//! - [`tune`] sets mimalloc's purge delay to "never" ([`PURGE_DELAY_NEVER`]): memory mimalloc
//!   has once taken from the kernel stays with the process, ready for the next allocation.
//!   The cost is memory: a node's resident size stays near its high-water mark instead of
//!   following its load down. An operator who wants memory returned sooner sets
//!   `MIMALLOC_PURGE_DELAY` (in milliseconds; mimalloc's default is 1000) in the node's
//!   environment, and `tune` leaves it alone.
//! - mimalloc is built without asking the kernel for transparent huge pages on its arenas
//!   (the crate's `no_thp` feature, in this crate's Cargo.toml). With freed memory kept but
//!   huge pages on, the p99 latency at half load came out worse than without either in most
//!   alternated pairs; with huge pages off too, it came out better.
//!
//! This is the only crate of the workspace that may use `unsafe`, and only for the calls
//! into mimalloc's option functions below.

use std::ffi::{c_int, c_long};

pub use mimalloc::MiMalloc;

/// The purge delay [`tune`] sets: mimalloc's value for "never purge".
pub const PURGE_DELAY_NEVER: c_long = -1;

/// `mi_option_purge_delay` in the option enumeration of mimalloc 3 (the version the
/// `mimalloc` crate builds by default). [`tune`] sets it only while it holds its default,
/// [`MIMALLOC_PURGE_DELAY_DEFAULT`], so that a mimalloc with another numbering (mimalloc 2's
/// default is 10) is left unchanged and reported as such; a test checks the number against
/// the default.
const MI_OPTION_PURGE_DELAY: c_int = 15;

/// mimalloc 3's default purge delay, in milliseconds.
const MIMALLOC_PURGE_DELAY_DEFAULT: c_long = 1000;

// mimalloc's C interface (mimalloc.h): an option is an `int`-sized enumeration value. The
// functions read and write a plain static table without synchronisation, so they are called
// only before other threads exist (and under one lock in the tests).
#[expect(unsafe_code, reason = "declares two of mimalloc's C functions")]
unsafe extern "C" {
    fn mi_option_get(option: c_int) -> c_long;
    fn mi_option_set(option: c_int, value: c_long);
}

/// What [`tune`] did, for the node's start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// The purge delay is now "never".
    Applied,
    /// The environment sets the purge delay (`MIMALLOC_PURGE_DELAY`, or its older name
    /// `MIMALLOC_RESET_DELAY`, in any case); left as the environment says.
    FromEnvironment,
    /// Not applied: the option does not hold mimalloc 3's default, so this mimalloc is not
    /// the one expected.
    NotApplied,
}

impl std::fmt::Display for Tuning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let purge = match self {
            Tuning::Applied => "freed memory kept for reuse",
            Tuning::FromEnvironment => "purge delay as the environment sets",
            Tuning::NotApplied => "purge delay left at the allocator's default",
        };
        write!(f, "mimalloc: {purge}, no transparent huge pages")
    }
}

/// Sets mimalloc's purge delay to "never" (see the crate's documentation). Call it first in
/// `main`, before any other thread exists: mimalloc's options are not synchronised. Calling
/// it again changes nothing.
pub fn tune() -> Tuning {
    // mimalloc reads its environment variables without regard to case.
    let from_environment = std::env::vars_os().any(|(name, _)| {
        name.to_str().is_some_and(|name| {
            name.eq_ignore_ascii_case("MIMALLOC_PURGE_DELAY")
                || name.eq_ignore_ascii_case("MIMALLOC_RESET_DELAY")
        })
    });
    if from_environment {
        return Tuning::FromEnvironment;
    }
    #[expect(
        unsafe_code,
        reason = "mimalloc's option functions have no safe binding; see the SAFETY comment"
    )]
    // SAFETY: both functions take an option number and a value, no pointers; the number is
    // inside mimalloc 3's enumeration, so they touch that option's slot of a static table.
    // The caller runs before other threads exist (the tests hold one lock), so nothing reads
    // or writes the slot at the same time. The value is set only when it holds the purge
    // delay's default, so another numbering leaves every option as it was.
    unsafe {
        match mi_option_get(MI_OPTION_PURGE_DELAY) {
            PURGE_DELAY_NEVER => Tuning::Applied,
            MIMALLOC_PURGE_DELAY_DEFAULT => {
                mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_NEVER);
                Tuning::Applied
            }
            _ => Tuning::NotApplied,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mimalloc's options are not synchronised: the tests, which run on parallel threads,
    /// take turns.
    static OPTIONS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn from_environment() -> bool {
        std::env::vars_os().any(|(name, _)| {
            name.to_str().is_some_and(|name| {
                name.eq_ignore_ascii_case("MIMALLOC_PURGE_DELAY")
                    || name.eq_ignore_ascii_case("MIMALLOC_RESET_DELAY")
            })
        })
    }

    /// The option number is mimalloc 3's purge delay: it holds the purge delay's default
    /// (or "never", if a test ran `tune` first), and `tune` sets it to "never", once or
    /// twice alike.
    #[test]
    fn the_purge_delay_is_the_option_set() {
        let _turn = OPTIONS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if from_environment() {
            assert_eq!(tune(), Tuning::FromEnvironment);
            return;
        }
        #[expect(unsafe_code, reason = "reads an option; see the SAFETY comment")]
        // SAFETY: as in `tune`: an option number in, a value out, no pointers, and the lock
        // keeps the other tests from the table meanwhile.
        let before = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert!(
            before == MIMALLOC_PURGE_DELAY_DEFAULT || before == PURGE_DELAY_NEVER,
            "option {MI_OPTION_PURGE_DELAY} is {before}: not mimalloc 3's purge delay"
        );
        assert_eq!(tune(), Tuning::Applied);
        assert_eq!(tune(), Tuning::Applied);
        #[expect(unsafe_code, reason = "reads an option; see the SAFETY comment")]
        // SAFETY: as above.
        let after = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(after, PURGE_DELAY_NEVER);
    }

    /// `tune` leaves an option it does not recognise alone: with the slot holding some other
    /// value, it reports so and changes nothing.
    #[test]
    fn an_unexpected_value_is_left_alone() {
        let _turn = OPTIONS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if from_environment() {
            return;
        }
        #[expect(
            unsafe_code,
            reason = "sets and reads an option; see the SAFETY comment"
        )]
        // SAFETY: as in `tune`; the lock keeps the other tests from the table meanwhile.
        let (reported, kept) = unsafe {
            let before = mi_option_get(MI_OPTION_PURGE_DELAY);
            mi_option_set(MI_OPTION_PURGE_DELAY, 10);
            let reported = tune();
            let kept = mi_option_get(MI_OPTION_PURGE_DELAY);
            mi_option_set(MI_OPTION_PURGE_DELAY, before);
            (reported, kept)
        };
        assert_eq!(reported, Tuning::NotApplied);
        assert_eq!(kept, 10);
    }

    #[test]
    fn the_log_line_says_what_was_done() {
        assert_eq!(
            Tuning::Applied.to_string(),
            "mimalloc: freed memory kept for reuse, no transparent huge pages"
        );
        assert_eq!(
            Tuning::FromEnvironment.to_string(),
            "mimalloc: purge delay as the environment sets, no transparent huge pages"
        );
    }
}
