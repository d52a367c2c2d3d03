//! The node's events on their way to the application, with backpressure: the driver stops
//! taking input while `capacity` events wait, and the application's next read wakes it.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::pin::Pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::Event;

/// The node's events, in order, for async code (`recv().await`, or as a `futures` `Stream`)
/// and for threads (`recv_blocking`, `recv_timeout`). When the application falls
/// `event_capacity` events behind, the node waits rather than drop one; once this receiver is
/// dropped, the node discards its events.
#[derive(Debug)]
pub struct Events {
    queue: Arc<EventQueue>,
}

#[derive(Debug)]
pub(crate) struct EventQueue {
    state: Mutex<State>,
    arrived: Condvar,
    capacity: usize,
    /// How many events wait, kept beside the lock so the driver can look without it.
    queued: AtomicUsize,
}

/// Room for this many events is kept when the queue empties; more is given back.
const SHRINK_OVER: usize = 16;

#[derive(Debug, Default)]
struct State {
    events: VecDeque<Event>,
    /// The application task waiting for an event.
    receiver: Option<Waker>,
    /// The driver waiting for room.
    driver: Option<Waker>,
    /// The node has stopped: no more events after these.
    stopped: bool,
    /// The application dropped its [`Events`].
    dropped: bool,
}

impl EventQueue {
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::default(),
            arrived: Condvar::new(),
            capacity: capacity.max(1),
            queued: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands an event to the application (discarded if it dropped its receiver).
    pub(crate) fn push(&self, event: Event) {
        let mut s = self.lock();
        if s.dropped {
            return;
        }
        s.events.push_back(event);
        self.queued.store(s.events.len(), Ordering::Release);
        let waker = s.receiver.take();
        drop(s);
        self.arrived.notify_one();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Whether the application has room for more events; if not, `cx` is woken when it has.
    pub(crate) fn has_room(&self, cx: &Context<'_>) -> bool {
        if self.queued.load(Ordering::Acquire) < self.capacity {
            return true;
        }
        let mut s = self.lock();
        if s.dropped || s.events.len() < self.capacity {
            return true;
        }
        if !s.driver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.driver = Some(cx.waker().clone());
        }
        false
    }

    /// The node stopped: the application reads what is queued, then the end.
    pub(crate) fn stop(&self) {
        let mut s = self.lock();
        s.stopped = true;
        let waker = s.receiver.take();
        drop(s);
        self.arrived.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Takes the next event, waking the driver if that made room.
    fn pop(&self, s: &mut State) -> Option<Event> {
        let e = s.events.pop_front()?;
        self.queued.store(s.events.len(), Ordering::Release);
        if s.events.is_empty() && s.events.capacity() > SHRINK_OVER {
            // A burst (a join learns every member at once) is over: its room goes back.
            s.events.shrink_to(0);
        }
        if s.events.len() < self.capacity
            && let Some(w) = s.driver.take()
        {
            w.wake();
        }
        Some(e)
    }
}

impl Events {
    pub(crate) fn new(queue: Arc<EventQueue>) -> Self {
        Self { queue }
    }

    /// The next event; `None` once the node has stopped and every event was read.
    pub async fn recv(&self) -> Option<Event> {
        core::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next event: `Ready(None)` once the node has stopped.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let q = &*self.queue;
        let mut s = q.lock();
        if let Some(e) = q.pop(&mut s) {
            return Poll::Ready(Some(e));
        }
        if s.stopped {
            return Poll::Ready(None);
        }
        if !s.receiver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.receiver = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The next event, blocking this thread until it comes; `None` once the node has
    /// stopped. Do not call it from the thread that drives the node.
    pub fn recv_blocking(&self) -> Option<Event> {
        let q = &*self.queue;
        let mut s = q.lock();
        loop {
            if let Some(e) = q.pop(&mut s) {
                return Some(e);
            }
            if s.stopped {
                return None;
            }
            s = q.arrived.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The next event, blocking at most `timeout`; tells a timeout from a stopped node.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        let q = &*self.queue;
        let until = std::time::Instant::now() + timeout;
        let mut s = q.lock();
        loop {
            if let Some(e) = q.pop(&mut s) {
                return Ok(e);
            }
            if s.stopped {
                return Err(RecvTimeoutError::Disconnected);
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(RecvTimeoutError::Timeout);
            }
            s = q
                .arrived
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<Event> {
        let q = &*self.queue;
        q.pop(&mut q.lock())
    }
}

impl futures_core::Stream for Events {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.poll_recv(cx)
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let mut s = self.queue.lock();
        s.dropped = true;
        s.events.clear();
        self.queue.queued.store(0, Ordering::Release);
        let waker = s.driver.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
    }
}
