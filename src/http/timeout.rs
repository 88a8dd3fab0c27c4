//! The two timeouts every request is under, made so that a request answered at once costs no
//! timer work: registering a timer in tokio's wheel and removing it again (two locks on the
//! time driver, a clock read, an allocation) was ≈ 5 % of a cached read's CPU time.
//!
//! - [`RequestTimeoutLayer`]: the longest a request may take (`app::REQUEST_TIMEOUT`, then an
//!   empty 408 that `app` turns into the problem answer). The timer starts only if the
//!   service below does not answer on its first poll: a read from the cache never arms one;
//!   anything that waits (the database, a body upload) is bound as before, from that first
//!   poll — microseconds after the request arrived.
//! - [`ConnectionTimer`]: the timer hyper uses for the header read timeout
//!   (`server::HEADER_READ_TIMEOUT`). Hyper asks for a new deadline for every request head
//!   on a keep-alive connection; here each connection keeps one tokio timer and only moves
//!   its deadline forward when it fires early, so a busy connection re-arms it at most once
//!   per timeout period instead of twice per request.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Response, StatusCode};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// Answers 408 (empty) when the service below takes longer than `timeout`.
#[derive(Clone, Copy, Debug)]
pub struct RequestTimeoutLayer {
    timeout: Duration,
}

impl RequestTimeoutLayer {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTimeout {
            inner,
            timeout: self.timeout,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RequestTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S, R> Service<R> for RequestTimeout<S>
where
    S: Service<R, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = RequestTimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        RequestTimeoutFuture {
            inner: self.inner.call(request),
            timeout: self.timeout,
            sleep: None,
        }
    }
}

pin_project! {
    /// The service's future; a timer only once it has had to wait.
    pub struct RequestTimeoutFuture<F> {
        #[pin]
        inner: F,
        timeout: Duration,
        #[pin]
        sleep: Option<tokio::time::Sleep>,
    }
}

impl<F, E> Future for RequestTimeoutFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(answer) = this.inner.poll(cx) {
            return Poll::Ready(answer);
        }
        if this.sleep.is_none() {
            this.sleep.set(Some(tokio::time::sleep(*this.timeout)));
        }
        if let Some(sleep) = this.sleep.as_pin_mut() {
            ready!(sleep.poll(cx));
        }
        let mut timed_out = Response::new(Body::empty());
        *timed_out.status_mut() = StatusCode::REQUEST_TIMEOUT;
        Poll::Ready(Ok(timed_out))
    }
}

/// Hyper's timer for one connection (see the module's documentation): give each connection
/// its own (`ConnectionTimer::default()`).
#[derive(Clone, Default)]
pub struct ConnectionTimer {
    /// The connection's one tokio timer, made at the first deadline. Its deadline is never
    /// later than that of any sleep hyper is waiting on, so it fires in time for each.
    timer: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

/// One deadline hyper waits for, on its connection's timer.
struct ConnectionSleep {
    deadline: Instant,
    timer: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl hyper::rt::Timer for ConnectionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(ConnectionSleep {
            deadline,
            timer: self.timer.clone(),
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<ConnectionSleep>() {
            Some(mut ours) => ours.deadline = new_deadline,
            None => *sleep = self.sleep_until(new_deadline),
        }
    }

    /// tokio's clock, which the deadlines are compared with (and tests can pause).
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

impl Future for ConnectionSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = tokio::time::Instant::from_std(self.deadline);
        let mut timer = self.timer.lock().unwrap_or_else(|p| p.into_inner());
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            // Later than this deadline (it was set for an earlier sleep that was then moved
            // back by `reset`, or never happens here): bring it forward.
            if timer.deadline() > deadline {
                timer.as_mut().reset(deadline);
            }
            ready!(timer.as_mut().poll(cx));
            if tokio::time::Instant::now() >= deadline {
                return Poll::Ready(());
            }
            // Fired for an earlier deadline: on to this one (registers the waker again).
            timer.as_mut().reset(deadline);
        }
    }
}

impl hyper::rt::Sleep for ConnectionSleep {}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;
    use std::future::poll_fn;

    /// Whether `sleep` is done, polled once.
    async fn done(sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>) -> bool {
        poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx).is_ready())).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_sleep_ends_at_its_deadline_however_often_it_moves() {
        let timer = ConnectionTimer::default();
        let start = timer.now();
        let mut sleep = timer.sleep_until(start + Duration::from_secs(10));
        assert!(!done(&mut sleep).await);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(!done(&mut sleep).await);
        // Moved later (a new request head on a keep-alive connection): the timer fires at
        // the old deadline, and the sleep goes on to the new one.
        timer.reset(&mut sleep, start + Duration::from_secs(15));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!done(&mut sleep).await, "11 s");
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(!done(&mut sleep).await, "14 s");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(done(&mut sleep).await, "15 s");

        // Moved earlier: it ends at the earlier deadline, not at the timer's old one.
        let now = timer.now();
        let mut sleep = timer.sleep_until(now + Duration::from_secs(10));
        assert!(!done(&mut sleep).await);
        timer.reset(&mut sleep, now + Duration::from_secs(3));
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(done(&mut sleep).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_sleep_on_the_connection_after_a_dropped_one_keeps_its_own_deadline() {
        let timer = ConnectionTimer::default();
        let now = timer.now();
        let mut first = timer.sleep_until(now + Duration::from_secs(10));
        assert!(!done(&mut first).await);
        drop(first);
        // An earlier deadline than the timer's: it must not wait for the timer's.
        let mut second = timer.sleep(Duration::from_secs(2));
        assert!(!done(&mut second).await);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(done(&mut second).await);
        // The woken task is told: the sleep completes within a real await.
        let third = timer.sleep(Duration::from_secs(5));
        let waited = tokio::time::Instant::now();
        third.await;
        assert_eq!(waited.elapsed(), Duration::from_secs(5));
    }

    /// A service that answers after `delay` (none: at once).
    fn answering_after(
        delay: Option<Duration>,
    ) -> impl Service<(), Response = Response<Body>, Error = std::convert::Infallible, Future: Send>
    + Clone {
        tower::service_fn(move |()| async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            Ok(Response::new(Body::from("done")))
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_is_answered_408_once_it_has_waited_too_long() {
        use tower::ServiceExt;
        let layer = RequestTimeoutLayer::new(Duration::from_secs(30));
        let quick = layer.layer(answering_after(None)).oneshot(()).await;
        assert_eq!(quick.map(|r| r.status()), Ok(StatusCode::OK));
        let slow = layer
            .layer(answering_after(Some(Duration::from_secs(29))))
            .oneshot(())
            .await;
        assert_eq!(slow.map(|r| r.status()), Ok(StatusCode::OK));
        let started = tokio::time::Instant::now();
        let late = layer
            .layer(answering_after(Some(Duration::from_secs(31))))
            .oneshot(())
            .await;
        assert_eq!(late.map(|r| r.status()), Ok(StatusCode::REQUEST_TIMEOUT));
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }
}
