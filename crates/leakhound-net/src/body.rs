//! A body that streams through unchanged while keeping a copy of its first bytes: how the
//! recorder captures exchanges without buffering large bodies.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// What a [`TeeBody`] saw.
#[derive(Debug, Default, Clone)]
pub struct Captured {
    /// The first bytes, up to the cap.
    pub head: Vec<u8>,
    /// All bytes that passed.
    pub total: u64,
    /// The body ended normally.
    pub complete: bool,
}

/// Called once when the body ends or is dropped.
pub type OnEnd = Box<dyn FnOnce(Captured) + Send>;

/// Streams `inner` while copying up to `cap` bytes.
pub struct TeeBody<B> {
    inner: B,
    cap: usize,
    seen: Captured,
    on_end: Option<OnEnd>,
}

impl<B> TeeBody<B> {
    /// Wraps `inner`; `on_end` receives what was seen.
    pub fn new(inner: B, cap: usize, on_end: OnEnd) -> TeeBody<B> {
        TeeBody {
            inner,
            cap,
            seen: Captured::default(),
            on_end: Some(on_end),
        }
    }

    fn finish(&mut self) {
        if let Some(f) = self.on_end.take() {
            f(std::mem::take(&mut self.seen));
        }
    }
}

impl<B> Drop for TeeBody<B> {
    fn drop(&mut self) {
        // A client that hung up mid-body still gets its exchange recorded, marked incomplete.
        self.finish();
    }
}

impl<B> Body for TeeBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen.total += data.len() as u64;
                    let room = this.cap.saturating_sub(this.seen.head.len());
                    this.seen
                        .head
                        .extend_from_slice(&data[..room.min(data.len())]);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.seen.complete = true;
                this.finish();
                Poll::Ready(None)
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A shared slot for a captured body, filled when the body ends.
pub type Slot = Arc<Mutex<Option<Captured>>>;

/// An [`OnEnd`] that stores what was seen in `slot`.
pub fn into_slot(slot: &Slot) -> OnEnd {
    let slot = Arc::clone(slot);
    Box::new(move |c| {
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(c);
    })
}
