//! Locks that ignore poisoning. Every lock in tailrace guards state that stays consistent under
//! it (each update is a few plain assignments or collection operations that cannot panic
//! halfway), so a lock poisoned by a panic elsewhere is used as is: one panicking call must not
//! turn every later call of the client into a panic.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// A mutex that a forked child never waits on. A lock some parent thread held at the moment of
/// `fork()` stays held forever in the child (that thread does not exist there), so the child
/// gets a fresh mutex holding a fresh value made by `fresh`: for per-process state (a latency
/// window, a hedge budget) that may start over in the child.
pub(crate) struct ForkMutex<T> {
    current: crate::runtime::ForkLocal<Mutex<T>>,
    fresh: fn() -> T,
}

impl<T: Send> ForkMutex<T> {
    pub(crate) fn new(fresh: fn() -> T) -> ForkMutex<T> {
        ForkMutex {
            current: crate::runtime::ForkLocal::new(Mutex::new(fresh())),
            fresh,
        }
    }

    /// This fork generation's mutex (poisoning ignored, as by [`lock`]).
    fn mutex(&self) -> &Mutex<T> {
        self.current.get_or_make(|| Mutex::new((self.fresh)()))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        lock(self.mutex())
    }

    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.mutex().try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

impl<T> std::fmt::Debug for ForkMutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForkMutex")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_forked_child_never_waits_on_a_lock_held_at_the_fork() {
        crate::runtime::handle(); // registers the fork handler that counts generations
        let m = std::sync::Arc::new(ForkMutex::new(|| 0u32));
        *m.lock() = 7;
        // Another thread holds the lock across the fork, as a runtime worker recording a
        // latency might.
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = {
            let m = m.clone();
            std::thread::spawn(move || {
                let _g = m.lock();
                held_tx.send(()).unwrap();
                let _ = release_rx.recv();
            })
        };
        held_rx.recv().unwrap();
        // SAFETY: the child only locks, reads and _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = *m.lock() == 0; // a fresh value, not the parent's 7
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break;
            }
            if Instant::now() > deadline {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("the child hung on a lock held at the fork");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{status}"
        );
        assert_eq!(*m.lock(), 7, "the parent keeps its value");
    }
}
