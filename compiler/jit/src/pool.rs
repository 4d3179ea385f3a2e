//! Worker threads for split kernels that spin briefly between jobs before they sleep.
//!
//! Why not rayon's pool: its idle workers go to sleep within microseconds, and an
//! update step is a chain of split kernels a few tens of microseconds apart, so every
//! split paid a futex wake-up (on a VM, often longer than the half-kernel it handed
//! over) and the caller's wait ended in `sched_yield` calls. These workers keep
//! watching for the next job for [`SPIN`] after each one, the way OpenMP runtimes do,
//! and only then park.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker watches for the next job before it parks.
pub const SPIN: Duration = Duration::from_micros(200);

/// Work handed to the pool: every worker calls `run` once per job it sees; the job
/// itself hands out its chunks (a worker that comes late finds none left).
pub trait Job: Send + Sync {
    /// Claims and runs chunks until none is left.
    fn run(&self);
}

/// `threads − 1` workers beside the caller, who always works on its own job too.
pub struct SpinPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

struct Shared {
    /// The current job, replaced by each `start`.
    job: Mutex<Option<Arc<dyn Job>>>,
    /// Bumped once per job; workers compare it with the last one they ran.
    epoch: AtomicU64,
    /// Workers parked on `wake` (so `start` makes a system call only when needed).
    parked: AtomicUsize,
    sleep: Mutex<()>,
    wake: Condvar,
    /// Set while a caller owns the pool: a second caller (another thread running a
    /// graph at the same time, or a nested split) runs its work alone instead.
    busy: AtomicBool,
    stop: AtomicBool,
}

impl SpinPool {
    /// A pool with `threads − 1` workers (none for `threads <= 1`).
    pub fn new(threads: usize) -> std::io::Result<SpinPool> {
        let shared = Arc::new(Shared::idle());
        let workers = (1..threads.max(1))
            .map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("rlp-jit-{i}"))
                    .spawn(move || shared.work())
            })
            .collect::<std::io::Result<_>>()?;
        Ok(SpinPool { shared, workers })
    }

    /// The process-wide pool, as many threads as rayon's global pool.
    pub fn global() -> &'static SpinPool {
        static GLOBAL: OnceLock<SpinPool> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            SpinPool::new(rayon::current_num_threads()).unwrap_or_else(|_| SpinPool {
                shared: Arc::new(Shared::idle()),
                workers: vec![],
            })
        })
    }

    /// Threads a job may use, the caller's included.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `job` on the caller and every worker, returning once the caller's share is
    /// done; the caller then waits for the job's own completion count. Returns `false`
    /// (and runs nothing) when another caller owns the pool: run the work alone then.
    pub fn run(&self, job: Arc<dyn Job>) -> bool {
        let s = &self.shared;
        if self.workers.is_empty()
            || s.busy
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        *s.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&job));
        s.epoch.fetch_add(1, Ordering::SeqCst);
        if s.parked.load(Ordering::SeqCst) > 0 {
            let _g = s.sleep.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        job.run();
        s.busy.store(false, Ordering::Release);
        true
    }
}

impl Shared {
    /// No job yet, nobody parked.
    fn idle() -> Shared {
        Shared {
            job: Mutex::new(None),
            epoch: AtomicU64::new(0),
            parked: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
            busy: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }
    }

    /// A worker's life: wait for a new epoch (spinning, then parked), run its job.
    fn work(&self) {
        let mut seen = 0;
        loop {
            let since = Instant::now();
            let mut spins = 0u32;
            loop {
                if self.stop.load(Ordering::Acquire) {
                    return;
                }
                let now = self.epoch.load(Ordering::SeqCst);
                if now != seen {
                    seen = now;
                    break;
                }
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(256) && since.elapsed() > SPIN {
                    self.park(seen);
                } else {
                    std::hint::spin_loop();
                }
            }
            let job = self.job.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(job) = job {
                job.run();
            }
        }
    }

    /// Sleeps until the epoch moves past `seen` or the pool stops.
    fn park(&self, seen: u64) {
        let mut g = self.sleep.lock().unwrap_or_else(|e| e.into_inner());
        self.parked.fetch_add(1, Ordering::SeqCst);
        while self.epoch.load(Ordering::SeqCst) == seen && !self.stop.load(Ordering::Acquire) {
            g = self.wake.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        self.parked.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for SpinPool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        {
            let _g = self.shared.sleep.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count {
        next: AtomicUsize,
        done: AtomicUsize,
        total: usize,
        sum: AtomicUsize,
    }

    impl Job for Count {
        fn run(&self) {
            loop {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                if i >= self.total {
                    return;
                }
                self.sum.fetch_add(i, Ordering::Relaxed);
                self.done.fetch_add(1, Ordering::Release);
            }
        }
    }

    impl Count {
        fn new(total: usize) -> Arc<Count> {
            Arc::new(Count {
                next: AtomicUsize::new(0),
                done: AtomicUsize::new(0),
                total,
                sum: AtomicUsize::new(0),
            })
        }
    }

    fn count(pool: &SpinPool, total: usize) -> usize {
        let job = Count::new(total);
        assert!(pool.run(job.clone()));
        while job.done.load(Ordering::Acquire) < total {
            std::hint::spin_loop();
        }
        job.sum.load(Ordering::Relaxed)
    }

    #[test]
    fn every_chunk_runs_once_across_many_jobs_and_after_parking() {
        let pool = SpinPool::new(3).unwrap();
        for total in [1, 7, 1000] {
            for _ in 0..200 {
                assert_eq!(count(&pool, total), total * (total - 1) / 2);
            }
            // Long enough for the workers to park: the next job must wake them.
            std::thread::sleep(SPIN * 5);
        }
    }

    #[test]
    fn a_second_caller_is_refused_while_a_job_runs() {
        let pool = SpinPool::new(2).unwrap();
        pool.shared.busy.store(true, Ordering::SeqCst);
        assert!(!pool.run(Count::new(4)));
        pool.shared.busy.store(false, Ordering::SeqCst);
    }

    #[test]
    fn a_pool_of_one_runs_nothing_itself() {
        let pool = SpinPool::new(1).unwrap();
        assert_eq!(pool.threads(), 1);
        assert!(!pool.run(Count::new(4)));
    }
}
