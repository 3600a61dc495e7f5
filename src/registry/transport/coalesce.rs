//! Upload bodies for the wasm transport: the chunks of a streamed body that are ready together
//! go to the host as one write. Under the Node action every write is a round trip to the WASI
//! shim's worker thread, and a blob streams in the 64 KiB frames it was read in (a 1 GiB upload:
//! 16 k writes; coalesced, about 1 k). Input: a [`BodyStream`]; output: the same bytes, in order,
//! in fewer chunks.

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt as _};

use super::BodyStream;
use crate::error::Result;

/// At most this many ready chunks are joined. Nothing waits to fill a batch (a chunk that is not
/// ready yet starts the next one), so nothing is delayed; memory stays bounded.
pub const COALESCE_CHUNKS: usize = 16;

/// `stream` with its immediately ready chunks joined. The first error ends it: the bytes batched
/// with an error are never sent, and an upload that fails is not committed.
pub fn coalesced(stream: BodyStream) -> impl Stream<Item = Result<Bytes>> + Send {
    stream.ready_chunks(COALESCE_CHUNKS).map(|batch| {
        if batch.len() == 1 {
            return batch.into_iter().next().unwrap_or_else(|| Ok(Bytes::new()));
        }
        let mut joined = BytesMut::new();
        for chunk in batch {
            joined.extend_from_slice(&chunk?);
        }
        Ok(joined.freeze())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use futures_util::stream;

    use super::*;
    use crate::error::Error;

    fn chunks(n: usize) -> Vec<Result<Bytes>> {
        (0..n)
            .map(|i| Ok(Bytes::from(vec![i as u8; 1000])))
            .collect()
    }

    #[tokio::test]
    async fn ready_chunks_are_joined_in_order_and_bounded() {
        let body: BodyStream = Box::pin(stream::iter(chunks(40)));
        let out: Vec<Bytes> = coalesced(body).map(|c| c.unwrap()).collect().await;
        assert_eq!(
            out.iter().map(Bytes::len).collect::<Vec<_>>(),
            [16_000, 16_000, 8000]
        );
        let all: Vec<u8> = out.concat();
        let expected: Vec<u8> = (0..40u8).flat_map(|i| vec![i; 1000]).collect();
        assert_eq!(all, expected);
    }

    #[tokio::test]
    async fn an_error_ends_the_body_without_the_bytes_batched_with_it() {
        let mut items = chunks(3);
        items.push(Err(Error::input("broken")));
        items.extend(chunks(2));
        let body: BodyStream = Box::pin(stream::iter(items));
        let mut out = coalesced(body);
        let first = out.next().await.unwrap();
        assert!(first.is_err(), "the batch holding the error is the error");
        // No byte of the batch went out before the error, and what was ready with it is dropped.
        let rest: Vec<_> = out.collect().await;
        assert!(rest.is_empty(), "{} items after the error", rest.len());
    }

    #[tokio::test]
    async fn a_chunk_that_is_not_ready_starts_a_new_batch() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Result<Bytes>>();
        let body: BodyStream = Box::pin(stream::poll_fn(move |cx| rx.poll_recv(cx)));
        let mut out = coalesced(body);
        tx.send(Ok(Bytes::from_static(b"ab"))).unwrap();
        tx.send(Ok(Bytes::from_static(b"cd"))).unwrap();
        assert_eq!(
            out.next().await.unwrap().unwrap(),
            Bytes::from_static(b"abcd")
        );
        tx.send(Ok(Bytes::from_static(b"ef"))).unwrap();
        assert_eq!(
            out.next().await.unwrap().unwrap(),
            Bytes::from_static(b"ef")
        );
        drop(tx);
        assert!(out.next().await.is_none());
    }
}
