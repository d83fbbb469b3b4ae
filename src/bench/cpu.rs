//! CPU time of a process (all its threads), read from `/proc/PID/task/*/schedstat`
//! (nanoseconds, unlike the 10 ms ticks of `/proc/PID/stat`). Linux only; elsewhere
//! the figures are reported as unavailable. Also the pinning of one thread to one CPU,
//! for `bench --pin`.

use std::time::Duration;

/// Total on-CPU time of process `pid` so far, or `None` where `/proc` cannot tell.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total: u64 = 0;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue; // the thread ended meanwhile
        };
        total += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(Duration::from_nanos(total))
}

/// This process's CPU time so far.
pub fn own_cpu() -> Option<Duration> {
    process_cpu(std::process::id())
}

/// Pin the calling thread (and the threads it starts from now on) to CPU `cpu`; a
/// warning if the kernel refuses (no such CPU, or a cpuset without it).
pub fn pin_thread(cpu: usize) -> bool {
    let mut set = nix::sched::CpuSet::new();
    let ok = set.set(cpu).is_ok()
        && nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).is_ok();
    if !ok {
        tracing::warn!("cannot pin a thread to CPU {cpu}");
    }
    ok
}

/// CPU used between two readings.
pub fn used(before: Option<Duration>, after: Option<Duration>) -> Option<Duration> {
    Some(after?.saturating_sub(before?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_thread_runs_on_that_cpu_only() {
        let allowed = std::thread::spawn(|| {
            assert!(pin_thread(0));
            let set =
                nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).expect("affinity");
            (0..nix::sched::CpuSet::count())
                .filter(|&c| set.is_set(c).unwrap_or(false))
                .collect::<Vec<_>>()
        })
        .join()
        .expect("thread");
        assert_eq!(allowed, vec![0]);
        // The test's own thread is untouched.
        let here = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).expect("affinity");
        let n = (0..nix::sched::CpuSet::count())
            .filter(|&c| here.is_set(c).unwrap_or(false))
            .count();
        assert_eq!(
            n,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    }

    #[test]
    fn a_cpu_that_is_not_there_is_refused_not_fatal() {
        let past_the_end = nix::sched::CpuSet::count();
        let pinned = std::thread::spawn(move || pin_thread(past_the_end))
            .join()
            .expect("thread");
        assert!(!pinned);
    }

    #[test]
    fn own_cpu_grows_with_work() {
        let Some(before) = own_cpu() else {
            return; // no /proc here: nothing to measure
        };
        // Spin until the counter shows 10 ms of our CPU (bounded: on a loaded machine
        // wall time says little about how much CPU a thread gets).
        let mut x = 0u64;
        let start = std::time::Instant::now();
        let mut spent = Duration::ZERO;
        while spent < Duration::from_millis(10) && start.elapsed() < Duration::from_secs(30) {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            spent = own_cpu().expect("still readable").saturating_sub(before);
        }
        std::hint::black_box(x);
        assert!(spent >= Duration::from_millis(10), "{spent:?}");
    }
}
