//! Ledger ops, their canonical signing bytes and ids, and the wire form of a signed op.
//!
//! # Signing bytes (canonical form, version 1)
//! What an author signs and what [`OpId`] hashes. Hand-written so it never depends on a
//! serializer's version: integers are fixed-width little-endian, DIDs are their 32 key bytes,
//! strings are a `u32` LE byte length followed by UTF-8.
//!
//! ```text
//! "ICN-LEDGER-OP-V1"   16 bytes, domain separation from anything else a node key signs
//! author               32
//! tag                  1: 1 CreateCurrency, 2 SetCreditLimit, 3 Transfer
//! CreateCurrency:      code:str  issuer:32  default_credit_limit:u64  timestamp_ms:u64
//! SetCreditLimit:      currency:str  account:32  limit:u64  timestamp_ms:u64
//! Transfer:            currency:str  from:32  to:32  amount:u64  seq:u64  timestamp_ms:u64
//!                      memo:str
//! ```
//! `OpId = blake3(signing bytes)`; the signature is Ed25519 over the same bytes.
//!
//! # Wire form
//! [`SignedOp::encode`]: bincode 2 (`config::standard()`, serde) of [`SignedOp`]; this is the
//! gossip entry payload on topic `icn/ledger`. [`SignedOp::decode`] bounds the input, rejects
//! trailing bytes and any encoding that does not re-encode to the same bytes, so an op has
//! exactly one wire form.

use std::fmt;
use std::str::FromStr;

use icn_identity::{Did, Keypair, Signature};
use serde::{Deserialize, Serialize};

use crate::{LedgerConfig, OpError, OpId, OrderKey};

/// Domain prefix of the signing bytes.
pub const SIGNING_DOMAIN: &[u8; 16] = b"ICN-LEDGER-OP-V1";

/// Hard ceiling on the encoded size of a [`SignedOp`] (the bincode decode limit).
pub const MAX_OP_BYTES: usize = 4096;

/// Hard ceiling on the length of a [`CurrencyCode`]; [`LedgerConfig::max_code_len`] narrows it.
pub const MAX_CODE_LEN: usize = 32;

const TAG_CREATE_CURRENCY: u8 = 1;
const TAG_SET_CREDIT_LIMIT: u8 = 2;
const TAG_TRANSFER: u8 = 3;

/// A currency code: 1 to [`MAX_CODE_LEN`] characters, uppercase ASCII letters and digits
/// (`USD`, `HOURS`, `K9`). Checked by every constructor, including deserialization.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CurrencyCode(String);

impl CurrencyCode {
    /// Checks and wraps a code.
    ///
    /// # Errors
    ///
    /// [`OpError::InvalidCode`] if `code` is empty, longer than [`MAX_CODE_LEN`], or has a
    /// character outside `A-Z0-9`.
    pub fn new(code: &str) -> Result<CurrencyCode, OpError> {
        if code.is_empty() {
            return Err(OpError::InvalidCode { reason: "empty" });
        }
        if code.len() > MAX_CODE_LEN {
            return Err(OpError::InvalidCode {
                reason: "longer than 32 characters",
            });
        }
        if !code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(OpError::InvalidCode {
                reason: "not uppercase ASCII letters and digits",
            });
        }
        Ok(CurrencyCode(code.to_owned()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CurrencyCode {
    type Error = OpError;

    fn try_from(code: String) -> Result<CurrencyCode, OpError> {
        CurrencyCode::new(&code)
    }
}

impl From<CurrencyCode> for String {
    fn from(code: CurrencyCode) -> String {
        code.0
    }
}

impl FromStr for CurrencyCode {
    type Err = OpError;

    fn from_str(s: &str) -> Result<CurrencyCode, OpError> {
        CurrencyCode::new(s)
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Creates a currency; signed by its issuer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CreateCurrency {
    /// The new currency's code; the first creation in fold order wins.
    pub code: CurrencyCode,
    /// Who may set credit limits in this currency; must be the op's author.
    pub issuer: Did,
    /// Credit limit of every account without an explicit one (0: no credit).
    pub default_credit_limit: u64,
    /// Author's clock, milliseconds since the Unix epoch: the op's fold position.
    pub timestamp_ms: u64,
}

/// Sets one account's credit limit in a currency; applies only if signed by the issuer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SetCreditLimit {
    /// The currency.
    pub currency: CurrencyCode,
    /// The account whose limit changes.
    pub account: Did,
    /// The new limit: the account's balance may go down to `-limit`.
    pub limit: u64,
    /// Author's clock, milliseconds since the Unix epoch: the op's fold position.
    pub timestamp_ms: u64,
}

/// Moves `amount` units from `from` to `to`; signed by `from`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transfer {
    /// The currency.
    pub currency: CurrencyCode,
    /// The payer, who signs.
    pub from: Did,
    /// The payee.
    pub to: Did,
    /// Units moved, at least 1.
    pub amount: u64,
    /// The payer's transfer counter, across all currencies: its n-th applied transfer has
    /// seq n. Makes replays and double-spends detectable.
    pub seq: u64,
    /// Author's clock, milliseconds since the Unix epoch: the op's fold position.
    pub timestamp_ms: u64,
    /// Free text for the parties, at most [`LedgerConfig::max_memo_bytes`].
    pub memo: String,
}

/// A ledger operation, before signing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// See [`CreateCurrency`].
    CreateCurrency(CreateCurrency),
    /// See [`SetCreditLimit`].
    SetCreditLimit(SetCreditLimit),
    /// See [`Transfer`].
    Transfer(Transfer),
}

impl From<CreateCurrency> for Op {
    fn from(op: CreateCurrency) -> Op {
        Op::CreateCurrency(op)
    }
}

impl From<SetCreditLimit> for Op {
    fn from(op: SetCreditLimit) -> Op {
        Op::SetCreditLimit(op)
    }
}

impl From<Transfer> for Op {
    fn from(op: Transfer) -> Op {
        Op::Transfer(op)
    }
}

impl Op {
    /// A transfer's seq; 0 for the other ops (with the timestamp and id, the fold position).
    pub fn seq(&self) -> u64 {
        match self {
            Op::Transfer(t) => t.seq,
            Op::CreateCurrency(_) | Op::SetCreditLimit(_) => 0,
        }
    }

    /// The op's timestamp (its fold position, with its seq and id).
    pub fn timestamp_ms(&self) -> u64 {
        match self {
            Op::CreateCurrency(c) => c.timestamp_ms,
            Op::SetCreditLimit(s) => s.timestamp_ms,
            Op::Transfer(t) => t.timestamp_ms,
        }
    }

    /// Who must sign the op, when the op itself says: `issuer` of a creation, `from` of a
    /// transfer. A credit-limit change names no signer; it applies only if its author is the
    /// currency's issuer at its fold position.
    pub fn actor(&self) -> Option<Did> {
        match self {
            Op::CreateCurrency(c) => Some(c.issuer),
            Op::SetCreditLimit(_) => None,
            Op::Transfer(t) => Some(t.from),
        }
    }

    /// The canonical bytes `author` signs (see the module doc).
    pub fn signing_bytes(&self, author: &Did) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(SIGNING_DOMAIN);
        out.extend_from_slice(author.as_bytes());
        match self {
            Op::CreateCurrency(c) => {
                out.push(TAG_CREATE_CURRENCY);
                put_str(&mut out, c.code.as_str());
                out.extend_from_slice(c.issuer.as_bytes());
                out.extend_from_slice(&c.default_credit_limit.to_le_bytes());
                out.extend_from_slice(&c.timestamp_ms.to_le_bytes());
            }
            Op::SetCreditLimit(s) => {
                out.push(TAG_SET_CREDIT_LIMIT);
                put_str(&mut out, s.currency.as_str());
                out.extend_from_slice(s.account.as_bytes());
                out.extend_from_slice(&s.limit.to_le_bytes());
                out.extend_from_slice(&s.timestamp_ms.to_le_bytes());
            }
            Op::Transfer(t) => {
                out.push(TAG_TRANSFER);
                put_str(&mut out, t.currency.as_str());
                out.extend_from_slice(t.from.as_bytes());
                out.extend_from_slice(t.to.as_bytes());
                out.extend_from_slice(&t.amount.to_le_bytes());
                out.extend_from_slice(&t.seq.to_le_bytes());
                out.extend_from_slice(&t.timestamp_ms.to_le_bytes());
                put_str(&mut out, &t.memo);
            }
        }
        out
    }

    /// The id this op has when signed by `author`.
    pub fn id(&self, author: &Did) -> OpId {
        OpId::from_bytes(*blake3::hash(&self.signing_bytes(author)).as_bytes())
    }

    /// Signs the op with `keypair`, which becomes its author.
    pub fn sign(self, keypair: &Keypair) -> SignedOp {
        let author = keypair.did();
        let signature = keypair.sign(&self.signing_bytes(&author));
        SignedOp {
            op: self,
            author,
            signature,
        }
    }

    /// Stateless checks that need neither the signature nor a clock: signer, amounts, seq,
    /// memo and code lengths.
    pub(crate) fn check_fields(&self, author: &Did, config: &LedgerConfig) -> Result<(), OpError> {
        if let Some(actor) = self.actor()
            && actor != *author
        {
            return Err(OpError::AuthorMismatch {
                author: *author,
                actor,
            });
        }
        let code = match self {
            Op::CreateCurrency(c) => &c.code,
            Op::SetCreditLimit(s) => &s.currency,
            Op::Transfer(t) => {
                if t.amount == 0 {
                    return Err(OpError::ZeroAmount);
                }
                if t.seq == 0 {
                    return Err(OpError::ZeroSeq);
                }
                if t.from == t.to {
                    return Err(OpError::SelfTransfer);
                }
                if t.memo.len() > config.max_memo_bytes {
                    return Err(OpError::MemoTooLong {
                        len: t.memo.len(),
                        max: config.max_memo_bytes,
                    });
                }
                &t.currency
            }
        };
        if code.as_str().len() > config.max_code_len {
            return Err(OpError::InvalidCode {
                reason: "longer than the configured max_code_len",
            });
        }
        Ok(())
    }

    /// Refuses a timestamp more than `max_clock_skew_ms` ahead of `now_ms`.
    pub(crate) fn check_clock(&self, config: &LedgerConfig, now_ms: u64) -> Result<(), OpError> {
        let timestamp_ms = self.timestamp_ms();
        if timestamp_ms > now_ms.saturating_add(config.max_clock_skew_ms) {
            return Err(OpError::FutureTimestamp {
                timestamp_ms,
                now_ms,
                max_skew_ms: config.max_clock_skew_ms,
            });
        }
        Ok(())
    }
}

/// `u32` LE length, then the bytes. Lengths are bounded by the decode limit, far below
/// `u32::MAX`; a longer string (only constructible locally) saturates the prefix, which the
/// checks on memo and code length refuse long before signing matters.
fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// An op with its author and the author's signature over [`Op::signing_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedOp {
    /// The operation.
    pub op: Op,
    /// Who signed it.
    pub author: Did,
    /// Ed25519 signature of `author` over `op.signing_bytes(&author)`.
    pub signature: Signature,
}

impl SignedOp {
    /// The op's id (recomputed on each call: blake3 of about 200 bytes).
    pub fn id(&self) -> OpId {
        self.op.id(&self.author)
    }

    /// The op's position in the fold order.
    pub fn order_key(&self) -> OrderKey {
        OrderKey {
            timestamp_ms: self.op.timestamp_ms(),
            seq: self.op.seq(),
            id: self.id(),
        }
    }

    /// Checks the signature.
    ///
    /// # Errors
    ///
    /// [`OpError::BadSignature`] if it does not verify.
    pub fn verify_signature(&self) -> Result<(), OpError> {
        self.author
            .verify(&self.op.signing_bytes(&self.author), &self.signature)
            .map_err(|_| OpError::BadSignature {
                author: self.author,
            })
    }

    /// Checks, as one batch (`icn_identity::verify`), the signatures of the ops `op_of` picks
    /// out of `items`. A picked op's result is what [`SignedOp::verify_signature`] gives for
    /// it; the other items get `None`.
    pub fn verify_signatures_where<T>(
        items: &[T],
        op_of: impl Fn(&T) -> Option<&SignedOp>,
    ) -> Vec<Option<Result<(), OpError>>> {
        let results = icn_identity::verify_batch_where(items, |item| {
            op_of(item).map(|op| (op.author, op.op.signing_bytes(&op.author), op.signature))
        });
        items
            .iter()
            .zip(results)
            .map(|(item, result)| {
                let author = op_of(item)?.author;
                Some(result?.map_err(|_| OpError::BadSignature { author }))
            })
            .collect()
    }

    /// Full stateless validation, as [`crate::LedgerCore::insert`] does it: fields, clock, then
    /// the signature (the expensive part, last).
    ///
    /// # Errors
    ///
    /// The first [`OpError`] found.
    pub fn validate(&self, config: &LedgerConfig, now_ms: u64) -> Result<(), OpError> {
        self.validate_unsigned(config, now_ms)?;
        self.verify_signature()
    }

    /// [`SignedOp::validate`] without the signature check: fields and clock.
    ///
    /// # Errors
    ///
    /// The first [`OpError`] found.
    pub fn validate_unsigned(&self, config: &LedgerConfig, now_ms: u64) -> Result<(), OpError> {
        self.op.check_fields(&self.author, config)?;
        self.op.check_clock(config, now_ms)
    }

    /// The wire form (see the module doc).
    pub fn encode(&self) -> Vec<u8> {
        // Serializing these types cannot fail: every field has a known length and no limit is
        // set for encoding. An empty payload would be refused by every decoder.
        bincode::serde::encode_to_vec(self, bincode::config::standard()).unwrap_or_default()
    }

    /// Parses the wire form, accepting at most `max_len` bytes (and never more than
    /// [`MAX_OP_BYTES`]). Does not verify the signature.
    ///
    /// # Errors
    ///
    /// [`OpError::TooLarge`] above the limit; [`OpError::Malformed`] for bytes that do not
    /// decode, trailing bytes, invalid DIDs or codes, or a non-canonical encoding.
    pub fn decode(bytes: &[u8], max_len: usize) -> Result<SignedOp, OpError> {
        let max = max_len.min(MAX_OP_BYTES);
        if bytes.len() > max {
            return Err(OpError::TooLarge {
                len: bytes.len(),
                max,
            });
        }
        let config = bincode::config::standard().with_limit::<MAX_OP_BYTES>();
        let (op, used): (SignedOp, usize) = bincode::serde::decode_from_slice(bytes, config)
            .map_err(|e| OpError::Malformed {
                reason: e.to_string(),
            })?;
        if used != bytes.len() {
            return Err(OpError::Malformed {
                reason: format!("{} trailing bytes", bytes.len() - used),
            });
        }
        // Varint integers and enum tags have several spellings; only the one we produce is
        // accepted, so an op's payload (and any hash of it) is unique.
        if op.encode() != bytes {
            return Err(OpError::Malformed {
                reason: "non-canonical encoding".to_owned(),
            });
        }
        Ok(op)
    }
}
