//! [`FrameSizeGuard`]: refuses an oversized inbound WebSocket frame when its header arrives.
//!
//! actix-http's frame parser checks a frame's declared length against the limit (SPEC §7: 64 KiB) only once the
//! whole frame is buffered, so a client that declares a 1 GiB frame and sends it makes the server hold 1 GiB before
//! the 1009 close. [`GuardedPayload`] sits between the socket and that parser: it follows the frame headers in the
//! raw inbound bytes (without copying or buffering them), and ends the stream with [`PayloadError::Overflow`] as
//! soon as a header declares more than the limit; the session answers that with 1009 (`ws_session.rs`).
//!
//! The frame layout (RFC 6455 §5.2): two bytes (FIN, opcode; MASK, 7-bit length), then a 16-bit length when the
//! 7-bit one is 126 or a 64-bit one when it is 127, then a 4-byte masking key when MASK is set, then the payload.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures::Stream;

/// The longest frame header: 2 bytes, a 64-bit length, a masking key.
const MAX_HEADER_BYTES: usize = 14;

/// Follows frame boundaries in a raw inbound byte stream.
#[derive(Debug)]
pub struct FrameSizeGuard {
    limit: u64,
    /// Bytes of the current frame's header seen so far (`None` while inside a payload).
    header: Option<([u8; MAX_HEADER_BYTES], usize)>,
    /// Payload bytes of the current frame still to come.
    remaining: u64,
}

/// A frame header declared a payload over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oversized {
    /// The declared payload length.
    pub declared: u64,
}

impl FrameSizeGuard {
    /// A guard at the start of a stream, refusing frames with a payload over `limit` bytes.
    pub fn new(limit: usize) -> FrameSizeGuard {
        FrameSizeGuard {
            limit: limit as u64,
            header: Some(([0; MAX_HEADER_BYTES], 0)),
            remaining: 0,
        }
    }

    /// Follows `chunk`, the next bytes of the stream.
    ///
    /// # Errors
    /// [`Oversized`] when a frame header in it declares more than the limit.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), Oversized> {
        while !chunk.is_empty() {
            match &mut self.header {
                None => {
                    let skip = usize::try_from(self.remaining)
                        .unwrap_or(usize::MAX)
                        .min(chunk.len());
                    chunk = &chunk[skip..];
                    self.remaining -= skip as u64;
                    if self.remaining == 0 {
                        self.header = Some(([0; MAX_HEADER_BYTES], 0));
                    }
                }
                Some((bytes, seen)) => {
                    bytes[*seen] = chunk[0];
                    *seen += 1;
                    chunk = &chunk[1..];
                    if let Some(length) = declared_length(&bytes[..*seen]) {
                        if length > self.limit {
                            return Err(Oversized { declared: length });
                        }
                        self.remaining = length;
                        self.header = if length == 0 {
                            Some(([0; MAX_HEADER_BYTES], 0))
                        } else {
                            None
                        };
                    }
                }
            }
        }
        Ok(())
    }
}

/// The payload length of a frame whose header starts with `header`, once the header is complete.
fn declared_length(header: &[u8]) -> Option<u64> {
    if header.len() < 2 {
        return None;
    }
    let masked = header[1] & 0x80 != 0;
    let (extended, length) = match header[1] & 0x7f {
        126 => (2, None),
        127 => (8, None),
        short => (0, Some(u64::from(short))),
    };
    let total = 2 + extended + if masked { 4 } else { 0 };
    if header.len() < total {
        return None;
    }
    length.or_else(|| {
        let mut n = 0u64;
        for byte in &header[2..2 + extended] {
            n = (n << 8) | u64::from(*byte);
        }
        Some(n)
    })
}

/// The inbound payload of a WebSocket, cut off with [`PayloadError::Overflow`] at the header of a frame over the
/// limit; frames before it pass unchanged.
pub struct GuardedPayload<S> {
    inner: S,
    guard: FrameSizeGuard,
    tripped: bool,
}

impl<S> GuardedPayload<S> {
    /// Guards `inner` with a limit of `limit` payload bytes per frame.
    pub fn new(inner: S, limit: usize) -> GuardedPayload<S> {
        GuardedPayload {
            inner,
            guard: FrameSizeGuard::new(limit),
            tripped: false,
        }
    }
}

impl<S> Stream for GuardedPayload<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.tripped {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => match self.guard.feed(&chunk) {
                Ok(()) => Poll::Ready(Some(Ok(chunk))),
                Err(Oversized { declared }) => {
                    tracing::debug!(declared, "WebSocket client declared an oversized frame.");
                    self.tripped = true;
                    Poll::Ready(Some(Err(PayloadError::Overflow)))
                }
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame header for a payload of `length` bytes.
    fn header(length: u64) -> Vec<u8> {
        let mut h = vec![0x81];
        match length {
            0..=125 => h.push(0x80 | length as u8),
            126..=0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(length as u16).to_be_bytes());
            }
            _ => {
                h.push(0x80 | 127);
                h.extend_from_slice(&length.to_be_bytes());
            }
        }
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    }

    fn frame(length: usize) -> Vec<u8> {
        let mut f = header(length as u64);
        f.extend(std::iter::repeat_n(b'x', length));
        f
    }

    #[test]
    fn frames_up_to_the_limit_pass_in_any_chunking() {
        let stream: Vec<u8> = [
            frame(0),
            frame(5),
            frame(125),
            frame(126),
            frame(70_000),
            frame(65_536),
        ]
        .concat();
        for chunk_size in [1, 2, 3, 7, 14, 1_000, stream.len()] {
            let mut guard = FrameSizeGuard::new(70_000);
            for chunk in stream.chunks(chunk_size) {
                assert_eq!(guard.feed(chunk), Ok(()), "chunks of {chunk_size}");
            }
        }
    }

    #[test]
    fn a_header_over_the_limit_trips_before_its_payload_arrives() {
        let mut guard = FrameSizeGuard::new(64 * 1024);
        assert_eq!(guard.feed(&frame(10)), Ok(()));
        let big = header(1 << 30);
        // Byte by byte: nothing trips until the length is known.
        let (last, start) = big.split_last().unwrap();
        assert_eq!(guard.feed(start), Ok(()));
        assert_eq!(guard.feed(&[*last]), Err(Oversized { declared: 1 << 30 }));
    }

    #[test]
    fn the_limit_is_inclusive_and_applies_to_16_and_64_bit_lengths() {
        let mut guard = FrameSizeGuard::new(65_536);
        assert_eq!(guard.feed(&header(65_536)), Ok(()));
        let mut guard = FrameSizeGuard::new(65_535);
        assert_eq!(
            guard.feed(&header(65_536)),
            Err(Oversized { declared: 65_536 })
        );
        let mut guard = FrameSizeGuard::new(200);
        assert_eq!(guard.feed(&header(300)), Err(Oversized { declared: 300 }));
    }
}
