//! Per-document work on every core, consumed in order on the calling thread.
//!
//! Invariant: `consume` sees every item's result exactly once, in item order, on the calling
//! thread (the one that holds the write transaction); workers only compute, never touch the
//! vault. A worker that panics loses nothing: the items it did not deliver are computed on the
//! calling thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Items a worker takes at a time.
const CHUNK: usize = 16;

/// The number of worker threads: one per core, at most 4 (`KITH_WORKERS=N` overrides, for
/// benchmarks; 1 runs everything on the calling thread).
pub fn workers() -> usize {
    if let Some(n) = std::env::var("KITH_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        return n.clamp(1, 16);
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

/// Computes `f(item)` for every item on worker threads (one per core) and hands the results to
/// `consume` in item order as they become available, so consuming overlaps computing. Stops at
/// the first error `consume` returns.
pub fn map_ordered<T, R, E>(
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
    mut consume: impl FnMut(usize, R) -> Result<(), E>,
) -> Result<(), E>
where
    T: Sync,
    R: Send,
{
    let threads = workers();
    if threads == 1 || items.len() < 2 * CHUNK {
        for (i, it) in items.iter().enumerate() {
            consume(i, f(it))?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let f = &f;
    let next = &next;
    std::thread::scope(|sc| {
        let (tx, rx) = mpsc::channel::<(usize, R)>();
        for _ in 0..threads {
            let tx = tx.clone();
            sc.spawn(move || loop {
                let from = next.fetch_add(CHUNK, Ordering::Relaxed);
                if from >= items.len() {
                    return;
                }
                for (i, it) in items.iter().enumerate().skip(from).take(CHUNK) {
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(it)));
                    // A panic stops this worker (the consumer computes what it left); so does
                    // a consumer that stopped (an error).
                    let Ok(r) = r else { return };
                    if tx.send((i, r)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut slots: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
        let mut open = true;
        for i in 0..items.len() {
            while open && slots[i].is_none() {
                match rx.recv() {
                    Ok((j, r)) => slots[j] = Some(r),
                    Err(_) => open = false,
                }
            }
            let r = match slots[i].take() {
                Some(r) => r,
                // Its worker panicked: compute it here.
                None => f(&items[i]),
            };
            consume(i, r)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_arrive_in_order_and_once() {
        let items: Vec<u64> = (0..1000).collect();
        let mut seen = Vec::new();
        map_ordered(
            &items,
            |x| x * 3,
            |i, r| {
                seen.push((i, r));
                Ok::<_, ()>(())
            },
        )
        .unwrap();
        assert_eq!(seen.len(), 1000);
        for (k, (i, r)) in seen.iter().enumerate() {
            assert_eq!(*i, k);
            assert_eq!(*r, items[k] * 3);
        }
    }

    #[test]
    fn an_error_stops_the_consumer() {
        let items: Vec<u64> = (0..500).collect();
        let mut n = 0;
        let out = map_ordered(
            &items,
            |x| *x,
            |_, r| {
                n += 1;
                if r == 100 {
                    Err("stop")
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(out, Err("stop"));
        assert_eq!(n, 101);
    }
}
