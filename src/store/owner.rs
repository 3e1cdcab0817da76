//! The thread that owns the SQLite connection, so that no database call ever runs on (and
//! parks) a tokio worker: a `busy_timeout` wait, an fsync or a prune waits here instead, while
//! the runtime goes on polling and keeping deadlines.
//!
//! Callers send boxed closures over a bounded channel and await the answer on a oneshot; the
//! thread runs them one at a time (SQLite serializes writers anyway). Once it has run every
//! request that was waiting, and before it sleeps, it calls the state's `idle` hook: the store
//! commits there, in one transaction, the writes it was asked to group (see `Db::flush`). A panic in a closure is
//! caught and answered as [`StoreError::Panicked`]: the caller gets an error instead of waiting
//! forever, and the thread goes on serving everyone else. The thread ends when the last
//! [`Owner`] handle drops: the channel closes, the queue drains, the connection closes, and the
//! dropping handle joins it.
//!
//! Hand-rolled rather than `tokio-rusqlite` (0.8, which does support rusqlite 0.40): its queue
//! is unbounded, and a panicking closure ends its thread, failing every later call.
//!
//! Nothing here knows SQL: the owned state is generic, which keeps these guarantees testable
//! on their own.

use std::panic::{self, AssertUnwindSafe};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// Requests that may wait for the thread. Every caller waits for its answer, so at most one
/// request per task is queued (`[poll] concurrency` polls plus the dispatcher and endpoints);
/// beyond this bound a caller waits asynchronously for room, which never blocks a worker.
const QUEUE: usize = 64;
/// The thread's name, as shown by `top -H`, debuggers and panic messages.
const THREAD_NAME: &str = "feedwatch-store";

/// One request: runs on the owner thread with exclusive access to the state.
type Job<S> = Box<dyn FnOnce(&mut S) + Send>;

/// Handle to the thread that owns a value of type `S` (the connection).
#[derive(Debug)]
pub(super) struct Owner<S> {
    /// Requests to the thread. `None` only while dropping: taking it closes the channel, which
    /// tells the thread to finish the queue and end.
    requests: Option<mpsc::Sender<Job<S>>>,
    /// Joined on drop, so the connection is closed (and the WAL checkpointed) by the time the
    /// last handle is gone, as it was when the connection lived in the handle.
    thread: Option<JoinHandle<()>>,
}

impl<S: 'static> Owner<S> {
    /// Starts the thread, which builds its state with `open` (so opening and migrating the
    /// database do not block the runtime either). `spawn_failed` turns a failure to start the
    /// thread into the caller's error.
    /// `idle` runs whenever the queue has been emptied (a panic in it is caught, like one in
    /// a request).
    pub(super) async fn start(
        open: impl FnOnce() -> Result<S, StoreError> + Send + 'static,
        idle: fn(&mut S),
        spawn_failed: impl FnOnce(std::io::Error) -> StoreError,
    ) -> Result<Owner<S>, StoreError> {
        let (requests, mut queue) = mpsc::channel::<Job<S>>(QUEUE);
        let (ready, opened) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(THREAD_NAME.to_string())
            .spawn(move || {
                let mut state = match panic::catch_unwind(AssertUnwindSafe(open)) {
                    Ok(Ok(state)) => state,
                    Ok(Err(e)) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                    Err(p) => {
                        let _ = ready.send(Err(StoreError::Panicked(panic_message(p.as_ref()))));
                        return;
                    }
                };
                if ready.send(Ok(())).is_err() {
                    return; // the opener gave up (its future was dropped)
                }
                while let Some(job) = queue.blocking_recv() {
                    job(&mut state);
                    // Everything already waiting runs before `idle`, so work that `idle`
                    // finishes (a group commit) is done once for all of it.
                    while let Ok(job) = queue.try_recv() {
                        job(&mut state);
                    }
                    let _ = panic::catch_unwind(AssertUnwindSafe(|| idle(&mut state)));
                }
            })
            .map_err(spawn_failed)?;
        let owner = Owner {
            requests: Some(requests),
            thread: Some(thread),
        };
        // On failure `owner` drops here and joins the thread, which has already returned.
        opened.await.map_err(|_| StoreError::Closed)??;
        Ok(owner)
    }

    /// Runs `op` on the owner thread and returns its result. A panic in `op` becomes
    /// [`StoreError::Panicked`]; a thread that is gone, [`StoreError::Closed`].
    pub(super) async fn call<R, F>(&self, op: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut S) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let requests = self.requests.as_ref().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        let job: Job<S> = Box::new(move |state: &mut S| {
            // Unwinding out of `op` leaves the state usable: an open SQLite transaction rolls
            // back when its guard drops on the way out, and `Db` changes its `synchronous`
            // field only after the pragma succeeded.
            let result = panic::catch_unwind(AssertUnwindSafe(|| op(state)))
                .unwrap_or_else(|p| Err(StoreError::Panicked(panic_message(p.as_ref()))));
            // The caller may have stopped waiting (its future was dropped): nobody to tell.
            let _ = reply.send(result);
        });
        requests.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

#[cfg(test)]
impl<S: 'static> Owner<S> {
    /// Holds the thread in a request until the returned sender sends (or drops), so that the
    /// requests made meanwhile wait together in the queue, as a busy poll round's do. Returns
    /// once the thread is held, with the holding request's task.
    pub(super) async fn hold(
        self: &std::sync::Arc<Self>,
    ) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
        let (started, running) = oneshot::channel();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let owner = self.clone();
        let holding = tokio::spawn(async move {
            let holding = owner.call(move |_: &mut S| {
                let _ = started.send(());
                let _ = held.recv();
                Ok(())
            });
            holding.await.expect("the holding request");
        });
        running.await.expect("the holding request runs");
        (release, holding)
    }
}

impl<S> Drop for Owner<S> {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take()
            // A job never holds a handle, but if one ever did, joining itself would deadlock.
            && thread.thread().id() != std::thread::current().id()
        {
            // Every request was answered before its caller let go of its handle, so the queue
            // is empty and this waits only for the connection to close.
            let _ = thread.join();
        }
    }
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn counter() -> Owner<u32> {
        Owner::start(|| Ok(0), |_| {}, |_| StoreError::Closed)
            .await
            .expect("start")
    }

    #[tokio::test]
    async fn a_panicking_call_is_an_error_and_the_thread_keeps_serving() {
        let owner = counter().await;
        let panicked = owner
            .call(|n: &mut u32| -> Result<(), StoreError> {
                *n += 1;
                panic!("boom {n}");
            })
            .await;
        match panicked {
            Err(StoreError::Panicked(msg)) => assert_eq!(msg, "boom 1"),
            other => panic!("expected a panic error, got {other:?}"),
        }
        let n = owner
            .call(|n: &mut u32| {
                *n += 1;
                Ok(*n)
            })
            .await
            .expect("served after the panic");
        assert_eq!(n, 2);
    }

    #[tokio::test]
    async fn a_failing_or_panicking_open_is_an_error() {
        let failed =
            Owner::<u32>::start(|| Err(StoreError::Closed), |_| {}, |_| StoreError::Closed).await;
        assert!(matches!(failed, Err(StoreError::Closed)), "{failed:?}");
        let panicked =
            Owner::<u32>::start(|| panic!("cannot open"), |_| {}, |_| StoreError::Closed).await;
        assert!(
            matches!(&panicked, Err(StoreError::Panicked(m)) if m == "cannot open"),
            "{panicked:?}"
        );
    }

    /// Requests run, requests run when `idle` last ran, times `idle` ran.
    type Tally = (u32, u32, u32);

    #[tokio::test]
    async fn idle_runs_once_the_waiting_requests_have_run() {
        let idle = |s: &mut Tally| {
            s.1 = s.0;
            s.2 += 1;
        };
        let owner = Owner::start(|| Ok((0, 0, 0)), idle, |_| StoreError::Closed)
            .await
            .map(std::sync::Arc::new)
            .expect("start");
        // Hold the thread in a request while three more queue up behind it.
        let (release, holding) = owner.hold().await;
        let queued: Vec<_> = (0..3)
            .map(|_| {
                let o = owner.clone();
                tokio::spawn(async move {
                    o.call(|s: &mut Tally| {
                        s.0 += 1;
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        // On this single-threaded runtime each yield lets the spawned tasks send.
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        release.send(()).expect("release");
        holding.await.expect("join");
        for q in queued {
            q.await.expect("join").expect("queued request");
        }
        let tally = owner.call(|s: &mut Tally| Ok(*s)).await.expect("read");
        assert_eq!(
            tally,
            (3, 3, 1),
            "idle ran once, after the holding request and all three waiting ones (and not yet \
             after the reading one)"
        );
    }

    /// Sets its flag when dropped: the state is dropped when the thread ends.
    struct Flag(std::sync::Arc<std::sync::atomic::AtomicBool>);

    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn dropping_the_last_handle_ends_the_thread() {
        let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Flag(ended.clone());
        let owner = Owner::start(move || Ok(flag), |_| {}, |_| StoreError::Closed)
            .await
            .expect("start");
        let name = owner
            .call(|_: &mut Flag| Ok(std::thread::current().name().map(str::to_string)))
            .await
            .expect("call");
        assert_eq!(name.as_deref(), Some(THREAD_NAME));
        assert!(!ended.load(std::sync::atomic::Ordering::SeqCst));
        drop(owner);
        assert!(
            ended.load(std::sync::atomic::Ordering::SeqCst),
            "the state is dropped (the connection closed) before drop returns"
        );
    }
}
