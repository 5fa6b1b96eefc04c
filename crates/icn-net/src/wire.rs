//! Wire messages and their framing: a big-endian `u32` length, then the bincode 2 encoding.
//!
//! Decoding never trusts the peer: the length is checked against the configured maximum before
//! anything is read, bincode decodes with an explicit allocation limit (without one a 27-byte
//! frame claiming a 2^40-element vector aborts the process), and trailing bytes are an error.
//!
//! A gossip message crosses this layer without a copy: [`GossipBody`] encodes it after room
//! for the frame's header, and [`decode_shared`] hands out the received body as a slice of the
//! frame's buffer.

use std::net::SocketAddr;

use bytes::{Buf, Bytes};
use icn_identity::Did;
use icn_obs::labels::FrameRejectReason;
use serde::{Deserialize, Serialize};

use crate::config::FRAME_LIMIT_CEILING;

/// Protocol version carried in `Hello`; peers with another version are refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// Everything a node sends to a peer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WireMessage {
    /// First message on a connection, in both directions.
    Hello(Hello),
    /// Known peers (peer exchange).
    Peers(Vec<PeerRecord>),
    /// The sender's replicated topics changed.
    Topics(Vec<String>),
    /// An encoded gossip message (opaque to the network layer).
    Gossip(Bytes),
}

/// [`WireMessage`] decoded in place: the same variants in the same order, the gossip body
/// borrowed from the frame.
#[derive(Deserialize)]
enum WireMessageRef<'a> {
    Hello(Hello),
    Peers(Vec<PeerRecord>),
    Topics(Vec<String>),
    Gossip(&'a [u8]),
}

/// Index of [`WireMessage::Gossip`] among the variants (bincode encodes it before the body).
const GOSSIP_VARIANT: u32 = 3;
/// Room a [`GossipBody`] keeps in front of the message: the length prefix, the variant index
/// and the body's length (varints of at most 1 and 9 bytes).
const GOSSIP_HEADROOM: usize = LENGTH_PREFIX + 1 + 9;

/// A gossip message encoded after room for its frame's header, so that framing it
/// ([`GossipBody::into_frame`]) copies nothing: the frame of a 64 KiB entry is not written
/// twice.
#[derive(Debug)]
pub struct GossipBody {
    buf: Vec<u8>,
}

impl GossipBody {
    /// Encodes `value` with `config` (the gossip layer's own limits).
    ///
    /// # Errors
    /// bincode's, e.g. a size above the configuration's limit.
    pub fn encode<T: Serialize + ?Sized, C: bincode::config::Config>(
        value: &T,
        config: C,
    ) -> Result<Self, bincode::error::EncodeError> {
        Ok(Self {
            buf: encode_exact(value, config, GOSSIP_HEADROOM)?,
        })
    }

    /// The encoded message's length.
    pub fn len(&self) -> usize {
        self.buf.len() - GOSSIP_HEADROOM
    }

    /// Whether the encoding is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoded message.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[GOSSIP_HEADROOM..]
    }

    /// The frame of `WireMessage::Gossip` with this body (what [`encode_frame`] gives for it),
    /// written in place.
    ///
    /// # Errors
    /// [`FrameError::Oversized`] when the frame's body exceeds `max`.
    pub fn into_frame(self, max: usize) -> Result<Bytes, FrameError> {
        let len = self.len();
        let header = bincode::serde::encode_to_vec((GOSSIP_VARIANT, len as u64), bincode_config())
            .map_err(|e| FrameError::Malformed(e.to_string()))?;
        let body_len = header.len() + len;
        if body_len > max {
            return Err(FrameError::Oversized { len: body_len, max });
        }
        let prefix =
            u32::try_from(body_len).map_err(|_| FrameError::Oversized { len: body_len, max })?;
        let start = GOSSIP_HEADROOM - header.len() - LENGTH_PREFIX;
        let mut buf = self.buf;
        buf[start..start + LENGTH_PREFIX].copy_from_slice(&prefix.to_be_bytes());
        buf[start + LENGTH_PREFIX..GOSSIP_HEADROOM].copy_from_slice(&header);
        let mut frame = Bytes::from(buf);
        frame.advance(start);
        Ok(frame)
    }
}

/// The handshake message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u32,
    /// The sender's DID; must equal the identity proven by TLS.
    pub did: Did,
    /// Address the sender accepts connections on, if it wants to be dialed.
    pub listen_addr: Option<SocketAddr>,
    /// Topics the sender replicates.
    pub topics: Vec<String>,
    /// Random per-process value: a new one means the peer restarted.
    pub instance: u64,
}

/// A peer address shared in peer exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// The peer.
    pub did: Did,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// Length prefix above the maximum.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    Oversized {
        /// Claimed length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// Not a valid message, or trailing bytes after it.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame")]
    Truncated,
    /// The rest of a frame did not arrive in time.
    #[error("frame read timed out")]
    Timeout,
}

impl FrameError {
    /// The metric label for this error.
    pub fn reason(&self) -> FrameRejectReason {
        match self {
            FrameError::Oversized { .. } => FrameRejectReason::Oversized,
            FrameError::Malformed(_) => FrameRejectReason::Malformed,
            FrameError::Truncated => FrameRejectReason::Truncated,
            FrameError::Timeout => FrameRejectReason::Timeout,
        }
    }
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<FRAME_LIMIT_CEILING>()
}

/// `bincode::serde::encode_to_vec`, into a vector allocated once at the encoding's size after
/// `reserve` leading zero bytes: a vector grown while encoding copies a 64 KiB entry up to
/// twice more, into fresh pages each time. Sizing walks the value once more, without copying.
///
/// # Errors
/// bincode's, e.g. a size above the configuration's limit.
pub fn encode_exact<T: Serialize + ?Sized, C: bincode::config::Config>(
    value: &T,
    config: C,
    reserve: usize,
) -> Result<Vec<u8>, bincode::error::EncodeError> {
    let mut size = bincode::enc::write::SizeWriter::default();
    bincode::serde::encode_into_writer(value, &mut size, config)?;
    let mut out = Vec::with_capacity(reserve + size.bytes_written);
    out.resize(reserve, 0);
    bincode::serde::encode_into_std_write(value, &mut out, config)?;
    Ok(out)
}

/// Encodes `msg` as one frame (length prefix included).
///
/// # Errors
/// [`FrameError::Oversized`] when the encoding exceeds `max`.
pub fn encode_frame(msg: &WireMessage, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut frame = encode_exact(msg, bincode_config(), LENGTH_PREFIX)
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = frame.len() - LENGTH_PREFIX;
    if len > max {
        return Err(FrameError::Oversized { len, max });
    }
    let prefix = u32::try_from(len).map_err(|_| FrameError::Oversized { len, max })?;
    frame[..LENGTH_PREFIX].copy_from_slice(&prefix.to_be_bytes());
    Ok(frame)
}

/// Reads a length prefix and checks it against `max`.
///
/// # Errors
/// [`FrameError::Oversized`] for a length above `max`.
pub fn check_length(prefix: [u8; LENGTH_PREFIX], max: usize) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > max {
        return Err(FrameError::Oversized { len, max });
    }
    Ok(len)
}

/// Decodes a frame body (without its length prefix) held in `body`; a gossip message is a
/// slice of `body`, not a copy.
///
/// # Errors
/// [`FrameError::Malformed`] for undecodable bytes or trailing bytes.
pub fn decode_shared(body: &Bytes) -> Result<WireMessage, FrameError> {
    let (msg, read) =
        bincode::serde::borrow_decode_from_slice::<WireMessageRef<'_>, _>(body, bincode_config())
            .map_err(|e| FrameError::Malformed(e.to_string()))?;
    if read != body.len() {
        return Err(FrameError::Malformed(format!(
            "{} trailing bytes after the message",
            body.len() - read
        )));
    }
    Ok(match msg {
        WireMessageRef::Hello(hello) => WireMessage::Hello(hello),
        WireMessageRef::Peers(peers) => WireMessage::Peers(peers),
        WireMessageRef::Topics(topics) => WireMessage::Topics(topics),
        WireMessageRef::Gossip(gossip) => WireMessage::Gossip(body.slice_ref(gossip)),
    })
}

/// [`decode_shared`] of a copy of `body`.
///
/// # Errors
/// [`FrameError::Malformed`] for undecodable bytes or trailing bytes.
pub fn decode_body(body: &[u8]) -> Result<WireMessage, FrameError> {
    decode_shared(&Bytes::copy_from_slice(body))
}

/// Decodes one whole frame held in memory (prefix + body), for tests and fuzzing.
///
/// # Errors
/// Any [`FrameError`].
pub fn decode_frame(frame: &[u8], max: usize) -> Result<WireMessage, FrameError> {
    let prefix: [u8; LENGTH_PREFIX] = frame
        .get(..LENGTH_PREFIX)
        .and_then(|p| p.try_into().ok())
        .ok_or(FrameError::Truncated)?;
    let len = check_length(prefix, max)?;
    let body = &frame[LENGTH_PREFIX..];
    if body.len() < len {
        return Err(FrameError::Truncated);
    }
    if body.len() > len {
        return Err(FrameError::Malformed("bytes after the frame".into()));
    }
    decode_body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use icn_identity::Keypair;

    #[test]
    fn exact_encoding_is_bincodes_in_one_allocation() {
        for msg in [hello(), WireMessage::Gossip(vec![3; 70_000].into())] {
            let plain = bincode::serde::encode_to_vec(&msg, bincode_config()).unwrap();
            let exact = encode_exact(&msg, bincode_config(), 4).unwrap();
            assert_eq!(exact[..4], [0; 4]);
            assert_eq!(exact[4..], plain[..]);
            assert_eq!(exact.capacity(), exact.len(), "allocated at its size");
        }
    }

    fn hello() -> WireMessage {
        WireMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            did: Keypair::generate().did(),
            listen_addr: Some("127.0.0.1:7777".parse().unwrap()),
            topics: vec!["icn/ledger".into()],
            instance: 42,
        })
    }

    #[test]
    fn round_trip() {
        for msg in [
            hello(),
            WireMessage::Gossip(vec![7; 1000].into()),
            WireMessage::Topics(vec!["a".into(), "b".into()]),
            WireMessage::Peers(vec![PeerRecord {
                did: Keypair::generate().did(),
                addr: "10.0.0.1:1".parse().unwrap(),
            }]),
        ] {
            let frame = encode_frame(&msg, 4 << 20).unwrap();
            assert_eq!(decode_frame(&frame, 4 << 20).unwrap(), msg);
        }
    }

    #[test]
    fn gossip_payload_is_encoded_as_bytes() {
        // As bytes: a 1000-byte payload costs ~1000 bytes, not one varint per element.
        let frame = encode_frame(&WireMessage::Gossip(vec![200; 1000].into()), 4 << 20).unwrap();
        assert!(frame.len() < 1010, "{}", frame.len());
    }

    #[test]
    fn gossip_bodies_frame_in_place_as_encode_frame_does() {
        for len in [0, 1, 250, 251, 65_535, 65_536, 70_000] {
            let payload = vec![9u8; len];
            let body = GossipBody::encode(&payload, bincode::config::standard()).unwrap();
            let inner = Bytes::copy_from_slice(body.as_slice());
            let expected = encode_frame(&WireMessage::Gossip(inner.clone()), 4 << 20).unwrap();
            let frame = body.into_frame(4 << 20).unwrap();
            assert_eq!(frame[..], expected[..], "{len}");
            let decoded = decode_shared(&frame.slice(LENGTH_PREFIX..)).unwrap();
            assert_eq!(decoded, WireMessage::Gossip(inner));
        }
        let body = GossipBody::encode(&vec![0u8; 2048], bincode::config::standard()).unwrap();
        assert!(matches!(
            body.into_frame(1024),
            Err(FrameError::Oversized { .. })
        ));
    }

    #[test]
    fn a_decoded_gossip_body_shares_the_frames_buffer() {
        let frame = encode_frame(&WireMessage::Gossip(vec![5; 4096].into()), 1 << 20).unwrap();
        let body = Bytes::from(frame).slice(LENGTH_PREFIX..);
        let Ok(WireMessage::Gossip(gossip)) = decode_shared(&body) else {
            panic!("not gossip");
        };
        let within = body.as_ptr_range();
        assert!(
            within.contains(&gossip.as_ptr()),
            "a slice of the frame, not a copy"
        );
        assert_eq!(gossip.len(), 4096);
    }

    #[test]
    fn oversized_frames_are_refused_both_ways() {
        let msg = WireMessage::Gossip(vec![0; 2048].into());
        assert!(matches!(
            encode_frame(&msg, 1024),
            Err(FrameError::Oversized { .. })
        ));
        let frame = encode_frame(&msg, 4096).unwrap();
        assert!(matches!(
            decode_frame(&frame, 1024),
            Err(FrameError::Oversized { .. })
        ));
    }

    #[test]
    fn hostile_length_claims_do_not_allocate() {
        // Variant index of Gossip, then a varint claiming 2^40 bytes.
        let mut body = vec![3u8, 0xFD];
        body.extend_from_slice(&(1u64 << 40).to_le_bytes());
        body.extend_from_slice(&[0; 17]);
        let err = decode_body(&body).unwrap_err();
        assert_eq!(err.reason(), FrameRejectReason::Malformed);
        // Same for a vector of peers.
        let mut body = vec![1u8, 0xFD];
        body.extend_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(decode_body(&body).is_err());
    }

    #[test]
    fn trailing_and_truncated_bytes_are_errors() {
        let frame = encode_frame(&hello(), 4096).unwrap();
        let mut body = frame[LENGTH_PREFIX..].to_vec();
        body.push(0);
        assert!(matches!(decode_body(&body), Err(FrameError::Malformed(_))));
        assert_eq!(
            decode_frame(&frame[..frame.len() - 1], 4096),
            Err(FrameError::Truncated)
        );
        assert!(decode_body(&frame[LENGTH_PREFIX..frame.len() - 3]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode_body(&bytes);
            let _ = decode_frame(&bytes, 4096);
        }
    }
}
