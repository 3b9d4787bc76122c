//! One thread for the run's blocking storage writes (state saves, journal appends; a
//! network round trip each with MySQL), so they never hold an async worker and their
//! buffers stay on one thread's heap. Jobs run in the order they were sent, and run to
//! the end even if the task awaiting one is dropped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, MutexGuard, mpsc};

type Job = Box<dyn FnOnce() + Send>;

pub struct StorageThread {
    jobs: mpsc::Sender<Job>,
}

impl StorageThread {
    pub fn start() -> StorageThread {
        let (jobs, queue) = mpsc::channel::<Job>();
        let started = std::thread::Builder::new()
            .name("tarsform-storage".into())
            .spawn(move || queue.into_iter().for_each(|job| job()));
        if started.is_err() {
            tracing::debug!("no storage thread; storage writes run in place");
        }
        StorageThread { jobs }
    }

    /// Runs `work` on the storage thread (in place if that thread is gone); a panic in
    /// it is an error.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let outcome = catch_unwind(AssertUnwindSafe(work))
                .map_err(|_| "a storage write panicked (a bug)".to_string());
            let _ = done.send(outcome);
        });
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            job();
        }
        result
            .await
            .unwrap_or_else(|_| Err("the storage thread stopped".to_string()))
    }
}

/// Locks a mutex shared with the storage thread; a panicked job leaves its data usable.
pub fn locked<T>(shared: &Mutex<T>) -> MutexGuard<'_, T> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_on_one_other_thread_and_a_panic_is_an_error() {
        let storage = StorageThread::start();
        let first = storage.run(|| std::thread::current().id()).await.unwrap();
        let second = storage.run(|| std::thread::current().id()).await.unwrap();
        assert_eq!(first, second);
        assert_ne!(first, std::thread::current().id());
        let panicked = storage.run(|| panic!("a storage bug")).await;
        assert!(panicked.unwrap_err().contains("panicked"));
        assert_eq!(storage.run(|| 7).await, Ok(7));
    }

    #[tokio::test]
    async fn a_dropped_wait_still_lets_the_job_finish() {
        let storage = StorageThread::start();
        let shared = std::sync::Arc::new(Mutex::new(0));
        let counter = shared.clone();
        let slow = storage.run(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            *locked(&counter) += 1;
        });
        drop(tokio::time::timeout(std::time::Duration::from_millis(1), slow).await);
        storage.run(|| ()).await.unwrap();
        assert_eq!(*locked(&shared), 1);
    }
}
