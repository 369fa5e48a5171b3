//! Work shared over the machine's cores with the result one thread would give, in the same
//! order: for large blocks, whose preparation and state-tree update are a catching-up node's
//! critical path while its other cores wait.

use std::sync::OnceLock;

/// How many threads a large piece of work is split over: the machine's parallelism, at most
/// four (a node runs consensus, its API and RocksDB's own threads beside it).
pub fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
}

/// `f(0)` to `f(runs - 1)`, in that order, each on its own thread but the first, which runs
/// on the caller's. A run whose thread the system refuses (out of threads or memory) runs on
/// the caller's too, after the first. A panic in `f` is raised again in the caller.
pub fn each<U: Send>(runs: usize, f: impl Fn(usize) -> U + Sync) -> Vec<U> {
    if runs <= 1 {
        return (0..runs).map(f).collect();
    }
    let f = &f;
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..runs)
            .map(|i| {
                let thread = std::thread::Builder::new().spawn_scoped(scope, move || f(i));
                (i, thread)
            })
            .collect();
        let mut out = Vec::with_capacity(runs);
        out.push(f(0));
        for (i, thread) in others {
            out.push(match thread {
                Ok(thread) => thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(_) => f(i),
            });
        }
        out
    })
}

/// `f` of every item, in the items' order. With `split`, the items are cut into up to
/// [`threads`] contiguous runs of about equal length, each mapped on its own thread
/// ([`each`]); otherwise all on the caller's thread.
pub fn map<'a, T: Sync, U: Send>(
    items: &'a [T],
    split: bool,
    f: impl Fn(&'a T) -> U + Sync,
) -> Vec<U> {
    map_in_parts(items, if split { threads() } else { 1 }, f)
}

/// [`map`] over up to `parts` runs, whatever the machine's parallelism.
fn map_in_parts<'a, T: Sync, U: Send>(
    items: &'a [T],
    parts: usize,
    f: impl Fn(&'a T) -> U + Sync,
) -> Vec<U> {
    let parts = parts.min(items.len());
    if parts <= 1 {
        return items.iter().map(f).collect();
    }
    let runs: Vec<&'a [T]> = items.chunks(items.len().div_ceil(parts)).collect();
    each(runs.len(), |i| runs[i].iter().map(&f).collect::<Vec<U>>())
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_map_keeps_the_order_of_one_thread() {
        for len in [0, 1, 2, 3, 7, 100, 1_001] {
            let items: Vec<u64> = (0..len).collect();
            let one = map(&items, false, |x| x * 3 + 1);
            assert_eq!(one, items.iter().map(|x| x * 3 + 1).collect::<Vec<_>>());
            assert_eq!(map(&items, true, |x| x * 3 + 1), one, "{len} items");
            // Forced splits, so a one-core machine checks them too.
            for parts in [2, 3, 7] {
                let split = map_in_parts(&items, parts, |x| x * 3 + 1);
                assert_eq!(split, one, "{len} items in {parts} parts");
            }
        }
    }

    #[test]
    fn each_answers_in_the_order_of_its_runs() {
        assert_eq!(each(0, |i| i), Vec::<usize>::new());
        assert_eq!(each(1, |i| i + 1), [1]);
        assert_eq!(each(5, |i| i * i), [0, 1, 4, 9, 16]);
    }

    #[test]
    #[should_panic(expected = "item 5")]
    fn a_panic_on_another_thread_reaches_the_caller() {
        // Item 5 lies in the second of two runs, which runs on a spawned thread.
        let items: Vec<u64> = (0..8).collect();
        map_in_parts(&items, 2, |x| assert_ne!(*x, 5, "item 5"));
    }
}
