//! One peer connection: the Hello exchange, the writer draining the peer's send queue, and the
//! readers decoding incoming frames.
//!
//! A connection counts as a session only after both Hellos were exchanged: with TLS 1.3 the
//! dialer's `connect()` succeeds before the server has checked the client certificate.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use icn_identity::Did;
use icn_obs::NetworkMetrics;
use icn_obs::labels::{DialFailureReason, FrameRejectReason};
use quinn::{Connection, RecvStream, SendStream, VarInt};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::backlog::Backlog;
use crate::inbound::{InboundBudget, InboundBytes};

use crate::wire::{
    FrameError, Hello, LENGTH_PREFIX, PROTOCOL_VERSION, WireMessage, check_length, decode_shared,
    encode_frame,
};

/// Largest buffer allocated ahead of the bytes that fill it, for a frame outside any budget.
const READ_CHUNK: usize = 64 * 1024;

/// Application close codes.
pub mod close {
    use quinn::VarInt;
    /// Normal shutdown.
    pub const SHUTDOWN: VarInt = VarInt::from_u32(0);
    /// Another connection to the same peer was kept.
    pub const DUPLICATE: VarInt = VarInt::from_u32(1);
    /// Protocol version mismatch.
    pub const VERSION: VarInt = VarInt::from_u32(2);
    /// Hello missing, malformed or inconsistent with the TLS identity.
    pub const HANDSHAKE: VarInt = VarInt::from_u32(3);
    /// We are at `max_peers`.
    pub const PEER_LIMIT: VarInt = VarInt::from_u32(4);
    /// The peer is our own node.
    pub const SELF: VarInt = VarInt::from_u32(5);
    /// The peer is blocked (link cut).
    pub const BLOCKED: VarInt = VarInt::from_u32(6);
}

/// Why a Hello exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer speaks another version.
    #[error("protocol version mismatch: ours {ours}, theirs {theirs}")]
    Version {
        /// Our version.
        ours: u32,
        /// Theirs.
        theirs: u32,
    },
    /// A bad frame where the Hello should be.
    #[error("bad hello frame: {0}")]
    Frame(#[from] FrameError),
    /// The first message was not a Hello, or its DID is not the TLS identity.
    #[error("bad hello: {0}")]
    Invalid(String),
    /// The connection failed during the exchange.
    #[error("connection failed during hello: {0}")]
    Connection(String),
    /// The exchange did not finish in time.
    #[error("hello exchange timed out")]
    Timeout,
}

impl HandshakeError {
    /// Metric label for a failed handshake.
    pub fn dial_reason(&self) -> DialFailureReason {
        match self {
            HandshakeError::Version { .. } => DialFailureReason::Version,
            _ => DialFailureReason::Handshake,
        }
    }
}

/// Limits shared by every connection of a node.
#[derive(Clone, Debug)]
pub struct FrameLimits {
    /// Maximum frame body.
    pub max_frame: usize,
    /// Time allowed to finish a frame once started.
    pub read_timeout: Duration,
    /// Received but unprocessed bytes allowed per connection (see [`crate::inbound`]).
    pub inbound_buffer: usize,
}

/// Writes one frame on a stream and counts it.
async fn write_frame(
    stream: &mut SendStream,
    frame: Bytes,
    metrics: &NetworkMetrics,
) -> Result<(), quinn::WriteError> {
    let len = frame.len();
    stream.write_chunk(frame).await?;
    metrics.messages_sent.increment(1);
    metrics.bytes_sent.increment(len as u64);
    metrics.message_size.record(len as f64);
    Ok(())
}

/// Reads one frame. `Ok(None)` is a clean end of stream between frames. With a `budget`,
/// the frame's length is taken from it before the body is read (waiting if the peer's
/// unprocessed bytes are at the cap) and the permit is returned with the message.
async fn read_frame(
    stream: &mut RecvStream,
    limits: &FrameLimits,
    metrics: &NetworkMetrics,
    budget: Option<&InboundBudget>,
) -> Result<Option<(WireMessage, Option<OwnedSemaphorePermit>)>, FrameError> {
    let mut prefix = [0u8; LENGTH_PREFIX];
    // Waiting for the next frame has no deadline (keep-alives cover liveness); finishing one does.
    match stream.read(&mut prefix[..1]).await {
        Ok(Some(0)) | Ok(None) => return Ok(None),
        Ok(Some(_)) => {}
        Err(_) => return Err(FrameError::Truncated),
    }
    let len = tokio::time::timeout(limits.read_timeout, stream.read_exact(&mut prefix[1..]))
        .await
        .map_err(|_| FrameError::Timeout)?
        .map_err(|_| FrameError::Truncated)
        .and_then(|()| check_length(prefix, limits.max_frame))?;
    let permit = match budget {
        Some(budget) => {
            let throttled = || metrics.inbound_throttled.increment(1);
            Some(
                budget
                    .reserve(len, throttled)
                    .await
                    .ok_or(FrameError::Truncated)?,
            )
        }
        None => None,
    };
    // Bytes held under the budget are already counted: their buffer is allocated whole, so a
    // frame of 64 KiB or more is not copied again as it grows.
    let ahead = if permit.is_some() { len } else { READ_CHUNK };
    let body = tokio::time::timeout(limits.read_timeout, read_body(stream, len, ahead))
        .await
        .map_err(|_| FrameError::Timeout)??;
    let total = body.len() + LENGTH_PREFIX;
    let msg = decode_shared(&body)?;
    metrics.messages_received.increment(1);
    metrics.bytes_received.increment(total as u64);
    metrics.message_size.record(total as f64);
    Ok(Some((msg, permit)))
}

/// Reads a body of `len` bytes into a buffer allocated for at most `ahead` of them and grown as
/// more arrive: a length claim alone allocates no more than `ahead`.
async fn read_body(stream: &mut RecvStream, len: usize, ahead: usize) -> Result<Bytes, FrameError> {
    let mut body = BytesMut::with_capacity(len.min(ahead));
    while body.len() < len {
        match stream.read_chunk(len - body.len(), true).await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk.bytes),
            Ok(None) | Err(_) => return Err(FrameError::Truncated),
        }
    }
    Ok(body.freeze())
}

fn count_reject(metrics: &NetworkMetrics, error: &FrameError) {
    metrics.frames_rejected.inc(error.reason());
}

/// Checks a received Hello against our version and the TLS-proven identity.
fn check_hello(msg: WireMessage, proven: Did) -> Result<Hello, HandshakeError> {
    let WireMessage::Hello(hello) = msg else {
        return Err(HandshakeError::Invalid(
            "first message is not a hello".into(),
        ));
    };
    if hello.version != PROTOCOL_VERSION {
        return Err(HandshakeError::Version {
            ours: PROTOCOL_VERSION,
            theirs: hello.version,
        });
    }
    if hello.did != proven {
        return Err(HandshakeError::Invalid(format!(
            "hello claims {} but TLS proved {}",
            hello.did, proven
        )));
    }
    Ok(hello)
}

/// Runs the Hello exchange on a fresh connection. The dialer opens a bidirectional stream and
/// speaks first; the acceptor answers only after checking the dialer's Hello.
///
/// # Errors
/// [`HandshakeError`]; frame errors are also counted in `icn_network_frames_rejected_total`.
pub async fn exchange_hello(
    connection: &Connection,
    proven: Did,
    ours: &Hello,
    dialer: bool,
    limits: &FrameLimits,
    metrics: &NetworkMetrics,
) -> Result<Hello, HandshakeError> {
    let frame = Bytes::from(
        encode_frame(&WireMessage::Hello(ours.clone()), limits.max_frame)
            .map_err(HandshakeError::Frame)?,
    );
    let conn_err = |e: &dyn std::fmt::Display| HandshakeError::Connection(e.to_string());
    let result = if dialer {
        let (mut send, mut recv) = connection.open_bi().await.map_err(|e| conn_err(&e))?;
        write_frame(&mut send, frame, metrics)
            .await
            .map_err(|e| conn_err(&e))?;
        let reply = read_frame(&mut recv, limits, metrics, None).await;
        let _ = send.finish();
        reply
    } else {
        let (mut send, mut recv) = connection.accept_bi().await.map_err(|e| conn_err(&e))?;
        let theirs = read_frame(&mut recv, limits, metrics, None).await;
        if let Ok(Some((msg, _))) = &theirs {
            // Answer only a well-formed, matching Hello.
            if let WireMessage::Hello(hello) = msg
                && hello.version == PROTOCOL_VERSION
                && hello.did == proven
            {
                write_frame(&mut send, frame, metrics)
                    .await
                    .map_err(|e| conn_err(&e))?;
            }
        }
        let _ = send.finish();
        theirs
    };
    match result {
        Ok(Some((msg, _))) => {
            let hello = check_hello(msg, proven);
            if let Err(HandshakeError::Invalid(_)) = &hello {
                metrics.frames_rejected.inc(FrameRejectReason::Unexpected);
            }
            hello
        }
        Ok(None) => Err(HandshakeError::Invalid("stream closed before hello".into())),
        Err(e) => {
            count_reject(metrics, &e);
            Err(HandshakeError::Frame(e))
        }
    }
}

/// What a reader hands to the node.
#[derive(Debug)]
pub enum Incoming {
    /// Peer exchange records.
    Peers(Vec<crate::wire::PeerRecord>),
    /// The peer's topics changed.
    Topics(Vec<String>),
    /// A gossip payload, still counted against the connection's inbound budget.
    Gossip(InboundBytes),
}

/// Drains `queue` onto one unidirectional stream until the queue or the connection closes,
/// taking each frame written off `backlog`.
pub(crate) async fn run_writer(
    connection: Connection,
    mut queue: mpsc::Receiver<Bytes>,
    metrics: NetworkMetrics,
    backlog: Arc<Backlog>,
) {
    let mut stream: Option<SendStream> = None;
    while let Some(frame) = queue.recv().await {
        if stream.is_none() {
            match connection.open_uni().await {
                Ok(s) => stream = Some(s),
                Err(_) => return,
            }
        }
        let Some(s) = stream.as_mut() else { return };
        let len = frame.len();
        if write_frame(s, frame, &metrics).await.is_err() {
            return;
        }
        backlog.written(len);
    }
    if let Some(mut s) = stream {
        let _ = s.finish();
    }
}

/// Accepts the peer's unidirectional streams and reads frames from each until the connection
/// closes; decoded messages go to `deliver`.
pub async fn run_readers(
    connection: Connection,
    limits: FrameLimits,
    metrics: NetworkMetrics,
    deliver: mpsc::Sender<Incoming>,
) {
    let budget = InboundBudget::new(limits.inbound_buffer);
    let limits = Arc::new(limits);
    while let Ok(stream) = connection.accept_uni().await {
        let limits = limits.clone();
        let metrics = metrics.clone();
        let deliver = deliver.clone();
        tokio::spawn(read_stream(
            stream,
            limits,
            metrics,
            budget.clone(),
            deliver,
        ));
    }
}

async fn read_stream(
    mut stream: RecvStream,
    limits: Arc<FrameLimits>,
    metrics: NetworkMetrics,
    budget: InboundBudget,
    deliver: mpsc::Sender<Incoming>,
) {
    loop {
        // Peer records and topics give their budget back once delivered; gossip bytes keep
        // it until the node has handled them.
        let (incoming, _permit) = match read_frame(&mut stream, &limits, &metrics, Some(&budget))
            .await
        {
            Ok(None) => return,
            Ok(Some((WireMessage::Gossip(bytes), Some(permit)))) => {
                (Incoming::Gossip(InboundBytes::new(bytes, permit)), None)
            }
            Ok(Some((WireMessage::Gossip(bytes), None))) => (Incoming::Gossip(bytes.into()), None),
            Ok(Some((WireMessage::Peers(records), permit))) => (Incoming::Peers(records), permit),
            Ok(Some((WireMessage::Topics(topics), permit))) => (Incoming::Topics(topics), permit),
            Ok(Some((WireMessage::Hello(_), _))) => {
                metrics.frames_rejected.inc(FrameRejectReason::Unexpected);
                let _ = stream.stop(VarInt::from_u32(1));
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "rejecting frame; closing stream");
                count_reject(&metrics, &e);
                let _ = stream.stop(VarInt::from_u32(1));
                return;
            }
        };
        if deliver.send(incoming).await.is_err() {
            return;
        }
    }
}
