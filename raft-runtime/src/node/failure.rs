//! How a node's failure reaches the application: the driver records the first failure here, and
//! the application can ask for it or wait for it. A failed node refuses every request; an
//! application that runs one node per process should exit (fail-stop), since retrying a failed
//! fsync is not safe.

use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::error::Error;

#[derive(Default)]
pub(crate) struct Failure {
    error: Mutex<Option<Error>>,
    set: Condvar,
}

impl Failure {
    /// Records `e`, unless a failure was recorded already (the first one is the cause).
    pub(crate) fn record(&self, e: &Error) {
        let mut error = self.error.lock();
        if error.is_none() {
            *error = Some(e.clone());
            self.set.notify_all();
        }
    }

    pub(crate) fn get(&self) -> Option<Error> {
        self.error.lock().clone()
    }

    /// The failure, once there is one, or `None` after `timeout`.
    pub(crate) fn wait(&self, timeout: Duration) -> Option<Error> {
        let mut error = self.error.lock();
        if error.is_none() {
            self.set.wait_for(&mut error, timeout);
        }
        error.clone()
    }
}
