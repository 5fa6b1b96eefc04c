//! `GET /v1/watch`, both ends: the server turns the backend's receiver into an NDJSON body, and
//! the client's [`EntryStream`] reads it back one [`EntryInfo`] per line.
//!
//! Format: `application/x-ndjson`, one compact JSON [`EntryInfo`] per `\n`-terminated line.
//! Readers skip blank lines, so a future version may send them as keep-alives.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::client::{ClientError, transport};
use crate::types::EntryInfo;

/// The media type of a watch stream.
pub const NDJSON: &str = "application/x-ndjson";

/// Longest line a client accepts: a 1 MiB payload is about 1.4 MB of base64, and the network
/// frame limit (4 MiB by default) bounds payloads well below this.
const MAX_LINE_BYTES: usize = 16 << 20;

/// The streaming answer of a watch: one line per entry `entries` yields, until the backend
/// drops its sender, `stop` is cancelled (server shutdown) or the client goes away (the body,
/// and with it the receiver, is dropped when a write fails).
pub(crate) fn ndjson_response(
    entries: mpsc::Receiver<EntryInfo>,
    stop: CancellationToken,
) -> Response {
    let lines = futures_util::stream::unfold((entries, stop), |(mut entries, stop)| async move {
        loop {
            let next = tokio::select! {
                biased;
                () = stop.cancelled() => None,
                entry = entries.recv() => entry,
            };
            match encode_line(&next?) {
                Ok(line) => return Some((Ok::<_, Infallible>(line), (entries, stop))),
                // Plain strings and integers always serialize; skip rather than end the stream.
                Err(error) => tracing::warn!(%error, "cannot encode a watched entry"),
            }
        }
    });
    (
        [
            (header::CONTENT_TYPE, NDJSON),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(lines),
    )
        .into_response()
}

/// One NDJSON line.
fn encode_line(entry: &EntryInfo) -> Result<Bytes, serde_json::Error> {
    let mut line = serde_json::to_vec(entry)?;
    line.push(b'\n');
    Ok(Bytes::from(line))
}

/// The entries of one watch, as the node sends them. Ends (`None`) when the node closes the
/// stream; drop it to stop watching.
#[derive(Debug)]
pub struct EntryStream {
    response: reqwest::Response,
    lines: LineBuffer,
    addr: SocketAddr,
    /// The body ended or failed: nothing more will come.
    done: bool,
}

impl EntryStream {
    pub(crate) fn new(response: reqwest::Response, addr: SocketAddr) -> Self {
        Self {
            response,
            lines: LineBuffer::default(),
            addr,
            done: false,
        }
    }

    /// The next entry; `None` once the node has closed the stream. Waits as long as it takes:
    /// a watch has no request timeout.
    ///
    /// # Errors
    /// [`ClientError::Transport`] when the connection fails (then the stream ends);
    /// [`ClientError::Decode`] for a line that is not an [`EntryInfo`] (later lines still
    /// come).
    pub async fn next(&mut self) -> Option<Result<EntryInfo, ClientError>> {
        loop {
            match self.lines.next_line() {
                Ok(Some(line)) => return Some(decode_line(&line)),
                Ok(None) => {}
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
            if self.done {
                return self.lines.rest().map(|line| decode_line(&line));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.lines.push(&chunk),
                Ok(None) => self.done = true,
                Err(error) => {
                    self.done = true;
                    return Some(Err(transport(self.addr, &error)));
                }
            }
        }
    }
}

fn decode_line(line: &[u8]) -> Result<EntryInfo, ClientError> {
    serde_json::from_slice(line)
        .map_err(|e| ClientError::Decode(format!("bad line in the watch stream: {e}")))
}

/// Splits received bytes into non-blank lines. Pure, so it is tested on plain bytes.
#[derive(Debug, Default)]
struct LineBuffer {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a newline, so a long line is scanned once.
    scanned: usize,
}

impl LineBuffer {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete non-blank line (without its `\n`), `None` if none is complete yet.
    fn next_line(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        while let Some(pos) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let end = self.scanned + pos;
            let line: Vec<u8> = self.buf.drain(..=end).take(end).collect();
            self.scanned = 0;
            if !line.trim_ascii().is_empty() {
                return Ok(Some(line));
            }
        }
        self.scanned = self.buf.len();
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(ClientError::Decode(format!(
                "a line of the watch stream exceeds {MAX_LINE_BYTES} bytes"
            )));
        }
        Ok(None)
    }

    /// What is left once the stream has ended: a last line without its `\n`, if not blank.
    fn rest(&mut self) -> Option<Vec<u8>> {
        self.scanned = 0;
        let rest = std::mem::take(&mut self.buf);
        (!rest.trim_ascii().is_empty()).then_some(rest)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn entry(n: u8) -> EntryInfo {
        EntryInfo {
            id: format!("{n:02x}"),
            topic: "news".into(),
            author: "did:icn:z6MkAuthor".into(),
            timestamp_ms: 1_700_000_000_000 + u64::from(n),
            payload: vec![n; 3],
        }
    }

    #[test]
    fn lines_split_across_chunks_and_blank_lines_are_skipped() {
        let mut text = encode_line(&entry(1)).unwrap().to_vec();
        text.extend_from_slice(b"\n  \n");
        text.extend_from_slice(&encode_line(&entry(2)).unwrap());
        text.extend_from_slice(&encode_line(&entry(3)).unwrap()[..10]);

        let mut lines = LineBuffer::default();
        let mut got = Vec::new();
        for chunk in text.chunks(7) {
            lines.push(chunk);
            while let Some(line) = lines.next_line().unwrap() {
                got.push(decode_line(&line).unwrap());
            }
        }
        assert_eq!(got, vec![entry(1), entry(2)]);
        // A truncated last line is handed over (and fails to decode).
        let rest = lines.rest().unwrap();
        assert!(decode_line(&rest).is_err());
        assert_eq!(lines.rest(), None);
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut lines = LineBuffer::default();
        lines.push(&vec![b'x'; MAX_LINE_BYTES + 1]);
        let err = lines.next_line().unwrap_err();
        assert!(matches!(err, ClientError::Decode(_)), "{err}");
    }

    #[test]
    fn a_line_is_compact_json_with_base64() {
        let line = encode_line(&entry(1)).unwrap();
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "{\"id\":\"01\",\"topic\":\"news\",\"author\":\"did:icn:z6MkAuthor\",\
             \"timestamp_ms\":1700000000001,\"payload\":\"AQEB\"}\n"
        );
    }
}
