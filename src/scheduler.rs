//! When each feed is polled, and the loop that dispatches the polls.
//!
//! Policy here is deliberately simple (a fixed interval per feed, measured from the end of the
//! previous poll so one feed is never polled twice at once); the loop bounds concurrency and
//! stops dispatching on shutdown, letting in-flight polls finish. It knows nothing about what a
//! poll does: the daemon hands it a closure.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Gap between the first polls of successive feeds at start-up, so a daemon with many feeds
/// does not open every connection in the same instant.
pub const STARTUP_SPREAD: Duration = Duration::from_millis(50);

/// When a feed that finished polling at `finished` is next due.
pub fn next_due(finished: Instant, interval: Duration) -> Instant {
    finished + interval
}

/// First poll time of feed number `n` after start-up at `start`.
pub fn first_due(start: Instant, n: usize) -> Instant {
    start + STARTUP_SPREAD.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Runs `poll(feed)` for every feed on its interval until `shutdown` is cancelled, with at most
/// `concurrency` polls in flight. Returns after in-flight polls have finished.
pub async fn run<F, Fut>(
    intervals: Vec<Duration>,
    concurrency: usize,
    shutdown: CancellationToken,
    poll: F,
) where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let concurrency = concurrency.max(1);
    let start = Instant::now();
    // Min-heap of (due time, feed index).
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> = (0..intervals.len())
        .map(|n| Reverse((first_due(start, n), n)))
        .collect();
    // Polls in flight; each yields its feed index when done.
    let mut in_flight: JoinSet<usize> = JoinSet::new();

    loop {
        let next = due.peek().map(|Reverse((t, _))| *t);
        let can_dispatch = next.is_some() && in_flight.len() < concurrency;
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                match done {
                    Ok(n) => {
                        let interval = intervals.get(n).copied().unwrap_or(Duration::MAX);
                        due.push(Reverse((next_due(Instant::now(), interval), n)));
                    }
                    // A poll task panicked: its feed is lost from the schedule until restart,
                    // which must be loud.
                    Err(e) => tracing::error!(error = %e, "a poll task failed unexpectedly"),
                }
            }
            () = tokio::time::sleep_until(next.unwrap_or(start)), if can_dispatch => {
                if let Some(Reverse((_, n))) = due.pop() {
                    let fut = poll(n);
                    in_flight.spawn(async move {
                        fut.await;
                        n
                    });
                }
            }
        }
    }
    // Stop dispatching; let what is running finish (each poll is bounded by its timeout).
    while in_flight.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test(start_paused = true)]
    async fn each_feed_is_polled_on_its_own_interval() {
        let log: Arc<Mutex<Vec<(usize, u64)>>> = Arc::default();
        let token = CancellationToken::new();
        let start = Instant::now();
        let task = {
            let log = log.clone();
            let token = token.clone();
            tokio::spawn(async move {
                run(
                    vec![Duration::from_secs(10), Duration::from_secs(25)],
                    4,
                    token,
                    move |n| {
                        let log = log.clone();
                        async move {
                            let secs = (Instant::now() - start).as_secs();
                            log.lock().expect("lock").push((n, secs));
                        }
                    },
                )
                .await;
            })
        };
        tokio::time::sleep(Duration::from_secs(61)).await;
        token.cancel();
        task.await.expect("scheduler ends");
        let log = log.lock().expect("lock").clone();
        let feed0: Vec<u64> = log.iter().filter(|(n, _)| *n == 0).map(|x| x.1).collect();
        let feed1: Vec<u64> = log.iter().filter(|(n, _)| *n == 1).map(|x| x.1).collect();
        assert_eq!(feed0, vec![0, 10, 20, 30, 40, 50, 60]);
        assert_eq!(feed1, vec![0, 25, 50]);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_bounded_and_shutdown_waits_for_in_flight_polls() {
        let active = Arc::new(Mutex::new((0usize, 0usize, 0usize))); // (now, max, finished)
        let token = CancellationToken::new();
        let task = {
            let active = active.clone();
            let token = token.clone();
            tokio::spawn(run(
                vec![Duration::from_secs(3600); 10],
                3,
                token,
                move |_| {
                    let active = active.clone();
                    async move {
                        {
                            let mut a = active.lock().expect("lock");
                            a.0 += 1;
                            a.1 = a.1.max(a.0);
                        }
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        let mut a = active.lock().expect("lock");
                        a.0 -= 1;
                        a.2 += 1;
                    }
                },
            ))
        };
        tokio::time::sleep(Duration::from_secs(6)).await;
        token.cancel();
        task.await.expect("scheduler ends");
        let (now, max, finished) = *active.lock().expect("lock");
        assert_eq!(max, 3);
        assert_eq!(now, 0, "shutdown returned with polls still running");
        assert_eq!(finished, 6, "two waves of three finished by the 6th second");
    }
}
