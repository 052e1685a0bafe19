//! Parallel execution: one process-wide rayon pool whose size the user controls
//! (`calipers.set_num_threads`, `CALIPERS_NUM_THREADS`), deterministic chunked maps, and the
//! `Monitor` hook through which long loops report progress and notice interrupts.

use std::sync::{Arc, RwLock};

use rayon::prelude::*;

use crate::error::{Error, Result};

/// The pool and the id of the process that built it: a child created by `fork` inherits the
/// pool object but none of its threads, so it must build its own (else it would wait forever).
static POOL: RwLock<Option<(u32, Arc<rayon::ThreadPool>)>> = RwLock::new(None);

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The most worker threads calipers starts: 8 per core, at least 64. More only costs memory
/// and scheduling (each thread reserves a stack), and a typo like 10**6 must not start a million.
pub fn max_num_threads() -> usize {
    (8 * available_cores()).max(64)
}

/// Threads used when the user has not chosen: `CALIPERS_NUM_THREADS` (capped at
/// `max_num_threads`), else all cores.
fn default_num_threads() -> usize {
    std::env::var("CALIPERS_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .map_or_else(available_cores, |n| n.min(max_num_threads()))
}

fn build_pool(n: usize) -> Result<Arc<rayon::ThreadPool>> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("calipers-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| Error::Numerical(format!("could not start {n} worker threads: {e}")))
}

/// Sets the number of worker threads for all later calls.
pub fn set_num_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid("n", "must be at least 1"));
    }
    let cap = max_num_threads();
    if n > cap {
        return Err(Error::invalid(
            "n",
            format!("{n} threads is more than the limit of {cap} (8 per core); pass at most {cap}"),
        ));
    }
    let pool = build_pool(n)?;
    *POOL.write().unwrap_or_else(|e| e.into_inner()) = Some((std::process::id(), pool));
    Ok(())
}

/// The number of worker threads calls will use.
pub fn num_threads() -> usize {
    pool().map_or(1, |p| p.current_num_threads())
}

fn pool() -> Result<Arc<rayon::ThreadPool>> {
    let pid = std::process::id();
    if let Some((owner, p)) = POOL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        if *owner == pid {
            return Ok(Arc::clone(p));
        }
    }
    let mut slot = POOL.write().unwrap_or_else(|e| e.into_inner());
    let threads = match slot.take() {
        Some((owner, p)) if owner == pid => {
            *slot = Some((owner, Arc::clone(&p)));
            return Ok(p);
        }
        // Inherited through fork: its threads do not exist here. Leak it rather than run its
        // destructor, which would signal threads of the parent process.
        Some((_, p)) => {
            let n = p.current_num_threads();
            std::mem::forget(p);
            n
        }
        None => default_num_threads(),
    };
    let p = build_pool(threads)?;
    *slot = Some((pid, Arc::clone(&p)));
    Ok(p)
}

/// Runs `f` inside the calipers pool so that rayon calls in it use the configured threads.
pub fn install<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T> {
    Ok(pool()?.install(f))
}

/// Progress and cancellation hook for long computations. `tick` is called between batches
/// (never per item) with the work done so far; returning `Err(Error::Interrupted)` stops the
/// computation at the next batch boundary.
pub trait Monitor: Sync {
    fn tick(&self, done: usize, total: usize) -> Result<()>;

    /// Whether the caller has asked to stop: a cheap flag that workers poll between chunks
    /// (and long loops inside one), so a stop does not wait for the batch to end.
    fn stop_requested(&self) -> bool {
        false
    }
}

/// A monitor that reports nothing and never interrupts.
pub struct Silent;

impl Monitor for Silent {
    fn tick(&self, _done: usize, _total: usize) -> Result<()> {
        Ok(())
    }
}

/// Maps `f` over the chunk indices `0..n_chunks` in parallel, returning results in chunk order.
/// Work proceeds in batches of a few chunks per thread; `monitor` is ticked after each batch.
/// Because results are ordered by chunk index, any fold over them is thread-count independent.
pub fn map_chunks<T, F>(n_chunks: usize, monitor: &dyn Monitor, f: F) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(usize) -> Result<T> + Sync + Send,
{
    let pool = pool()?;
    let batch = (4 * pool.current_num_threads()).max(1);
    let mut out = Vec::with_capacity(n_chunks);
    let mut start = 0;
    // The batch loop stays on the calling thread so that `monitor` runs there (Python only
    // delivers Ctrl-C to the main thread); each batch is spread over the pool.
    while start < n_chunks {
        let end = (start + batch).min(n_chunks);
        let part: Result<Vec<T>> = pool.install(|| {
            (start..end)
                .into_par_iter()
                .map(|c| {
                    if monitor.stop_requested() {
                        Err(Error::Interrupted)
                    } else {
                        f(c)
                    }
                })
                .collect()
        });
        out.extend(part?);
        start = end;
        monitor.tick(start, n_chunks)?;
    }
    Ok(out)
}

/// Splits `0..n` into consecutive ranges of at most `chunk` items.
pub fn chunk_ranges(n: usize, chunk: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let chunk = chunk.max(1);
    (0..n.div_ceil(chunk)).map(move |c| c * chunk..((c + 1) * chunk).min(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn map_chunks_keeps_order() {
        let out = map_chunks(103, &Silent, |i| Ok(i * i)).unwrap();
        assert_eq!(out, (0..103).map(|i| i * i).collect::<Vec<_>>());
    }

    struct StopAfter(AtomicUsize);
    impl Monitor for StopAfter {
        fn tick(&self, _done: usize, _total: usize) -> Result<()> {
            if self.0.fetch_add(1, Ordering::SeqCst) >= 1 {
                Err(Error::Interrupted)
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn monitor_can_interrupt() {
        let r = map_chunks(10_000, &StopAfter(AtomicUsize::new(0)), Ok);
        assert_eq!(r, Err(Error::Interrupted));
    }

    #[test]
    fn chunk_ranges_cover_everything() {
        let rs: Vec<_> = chunk_ranges(10, 4).collect();
        assert_eq!(rs, vec![0..4, 4..8, 8..10]);
        assert_eq!(chunk_ranges(0, 4).count(), 0);
    }
}
