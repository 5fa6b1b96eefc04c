//! Establishing sessions: outbound dials and inbound handshakes, each in its own task.

use std::sync::Arc;

use icn_identity::Did;
use icn_obs::labels::DialFailureReason;
use quinn::{ConnectionError, TransportConfig, VarInt};
use tokio::sync::oneshot;

use crate::actor::{Internal, TaskContext, run_session};
use crate::book::DialKey;
use crate::config::NetConfig;
use crate::peer::{Direction, PeerTarget};
use crate::session::{self, close};
use crate::tls::{self, PeerServerVerifier};
use crate::{NetConfigError, NetError};

/// QUIC transport settings shared by both directions.
///
/// # Errors
/// [`NetError::Config`] when the idle timeout is out of QUIC's range.
pub fn transport_config(config: &NetConfig) -> Result<TransportConfig, NetError> {
    let mut transport = TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(config.idle_timeout)
        .map_err(|e| NetError::Config(NetConfigError::from(e).0))?;
    transport
        .max_idle_timeout(Some(idle))
        .keep_alive_interval(Some(config.keep_alive))
        // One bidirectional stream for the Hello, a few unidirectional ones for frames: a peer
        // cannot make us hold hundreds of streams.
        .max_concurrent_bidi_streams(VarInt::from_u32(2))
        .max_concurrent_uni_streams(VarInt::from_u32(8));
    Ok(transport)
}

fn dial_error(target: &PeerTarget, reason: DialFailureReason, detail: impl ToString) -> NetError {
    NetError::Dial {
        target: target.to_string(),
        reason,
        detail: detail.to_string(),
    }
}

/// Whether a connection error is the peer keeping another connection to us (not a failure).
fn closed_as_duplicate(error: &ConnectionError) -> bool {
    matches!(error, ConnectionError::ApplicationClosed(close) if close.error_code == close::DUPLICATE)
}

/// Dials `target`, runs the Hello exchange and registers the session; reports to the actor.
pub(crate) async fn outbound(
    ctx: TaskContext,
    target: PeerTarget,
    key: Option<DialKey>,
    reply: Option<oneshot::Sender<Result<Did, NetError>>>,
) {
    let result = dial(&ctx, target).await;
    match &result {
        Err(NetError::Dial { reason, detail, .. }) => {
            tracing::debug!(target = %target, reason = ?reason, detail, "dial failed");
        }
        Err(e) => tracing::debug!(target = %target, error = %e, "dial failed"),
        Ok(_) => {}
    }
    let internal = ctx.internal.clone();
    let _ = internal
        .send(Internal::DialFinished { key, result, reply })
        .await;
}

async fn dial(ctx: &TaskContext, target: PeerTarget) -> Result<Did, NetError> {
    let fail = |reason: DialFailureReason, detail: &dyn std::fmt::Display| {
        ctx.metrics.dial_failures.inc(reason);
        dial_error(&target, reason, detail)
    };
    if target.addr == ctx.endpoint.local_addr().unwrap_or(target.addr) && target.did.is_none()
        || target.did == Some(ctx.me)
    {
        return Err(fail(DialFailureReason::SelfDial, &"that is this node"));
    }
    let verifier = Arc::new(PeerServerVerifier::new(target.did));
    let crypto = tls::client_crypto(&ctx.cert, verifier.clone())?;
    let mut client = quinn::ClientConfig::new(crypto);
    client.transport_config(ctx.transport.clone());
    let connecting = ctx
        .endpoint
        .connect_with(client, target.addr, tls::SERVER_NAME)
        .map_err(|e| fail(DialFailureReason::Unreachable, &e))?;
    let connection = match tokio::time::timeout(ctx.handshake_timeout, connecting).await {
        Err(_) => return Err(fail(DialFailureReason::Unreachable, &"timed out")),
        Ok(Err(e)) => {
            let seen = verifier.seen();
            let reason = match (target.did, seen) {
                (Some(expected), Some(seen)) if expected != seen => {
                    DialFailureReason::IdentityMismatch
                }
                _ if matches!(e, ConnectionError::TimedOut) => DialFailureReason::Unreachable,
                _ if seen.is_some() => DialFailureReason::Tls,
                _ => DialFailureReason::Unreachable,
            };
            let detail = match (reason, seen) {
                (DialFailureReason::IdentityMismatch, Some(seen)) => {
                    format!(
                        "expected {}, found {seen}",
                        target.did.map(|d| d.to_string()).unwrap_or_default()
                    )
                }
                _ => e.to_string(),
            };
            return Err(fail(reason, &detail));
        }
        Ok(Ok(connection)) => connection,
    };
    let Some(proven) = tls::peer_did(&connection) else {
        connection.close(close::HANDSHAKE, b"no identity");
        return Err(fail(
            DialFailureReason::Tls,
            &"peer presented no usable certificate",
        ));
    };
    if proven == ctx.me {
        connection.close(close::SELF, b"self");
        return Err(fail(DialFailureReason::SelfDial, &"that is this node"));
    }
    let hello = match tokio::time::timeout(
        ctx.handshake_timeout,
        session::exchange_hello(
            &connection,
            proven,
            &ctx.hello(),
            true,
            &ctx.limits,
            &ctx.metrics,
        ),
    )
    .await
    {
        Err(_) => {
            connection.close(close::HANDSHAKE, b"hello timeout");
            return Err(fail(DialFailureReason::Handshake, &"hello timed out"));
        }
        Ok(Err(e)) => {
            if let Some(reason) = connection.close_reason()
                && closed_as_duplicate(&reason)
            {
                return Ok(proven);
            }
            let code = match e.dial_reason() {
                DialFailureReason::Version => close::VERSION,
                _ => close::HANDSHAKE,
            };
            connection.close(code, e.to_string().as_bytes());
            return Err(fail(e.dial_reason(), &e));
        }
        Ok(Ok(hello)) => hello,
    };
    admit(ctx, connection, hello, Direction::Outbound)
        .await
        .map_err(|reason| match reason {
            Some(reason) => fail(reason, &"refused"),
            None => dial_error(&target, DialFailureReason::Handshake, "not admitted"),
        })
        .map(|()| proven)
        .or_else(|e| match e {
            // A duplicate resolved in favour of the other connection is still a session.
            NetError::Dial {
                reason: DialFailureReason::Handshake,
                ..
            } if ctx
                .shared
                .sessions
                .read()
                .map(|s| s.contains_key(&proven))
                .unwrap_or(false) =>
            {
                Ok(proven)
            }
            e => Err(e),
        })
}

/// Asks the actor to register the session; on success runs it in a task of its own.
async fn admit(
    ctx: &TaskContext,
    connection: quinn::Connection,
    hello: crate::wire::Hello,
    direction: Direction,
) -> Result<(), Option<DialFailureReason>> {
    let (reply, answer) = oneshot::channel();
    ctx.internal
        .send(Internal::Established {
            connection: connection.clone(),
            hello: hello.clone(),
            direction,
            reply,
        })
        .await
        .map_err(|_| None)?;
    answer.await.map_err(|_| None)??;
    tokio::spawn(run_session(ctx.clone(), connection, hello));
    Ok(())
}

/// Completes an inbound connection: TLS, Hello, registration.
pub(crate) async fn inbound(ctx: TaskContext, incoming: quinn::Incoming) {
    let remote = incoming.remote_address();
    let connection = match tokio::time::timeout(ctx.handshake_timeout, incoming).await {
        Err(_) => {
            ctx.metrics.dial_failures.inc(DialFailureReason::Handshake);
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "inbound TLS handshake failed");
            ctx.metrics.dial_failures.inc(DialFailureReason::Tls);
            return;
        }
        Ok(Ok(connection)) => connection,
    };
    let Some(proven) = tls::peer_did(&connection) else {
        connection.close(close::HANDSHAKE, b"no identity");
        ctx.metrics.dial_failures.inc(DialFailureReason::Tls);
        return;
    };
    if proven == ctx.me {
        connection.close(close::SELF, b"self");
        ctx.metrics.dial_failures.inc(DialFailureReason::SelfDial);
        return;
    }
    let exchanged = tokio::time::timeout(
        ctx.handshake_timeout,
        session::exchange_hello(
            &connection,
            proven,
            &ctx.hello(),
            false,
            &ctx.limits,
            &ctx.metrics,
        ),
    )
    .await;
    let hello = match exchanged {
        Err(_) => {
            connection.close(close::HANDSHAKE, b"hello timeout");
            ctx.metrics.dial_failures.inc(DialFailureReason::Handshake);
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(%remote, peer = %proven.short(), error = %e, "inbound hello failed");
            let code = match e.dial_reason() {
                DialFailureReason::Version => close::VERSION,
                _ => close::HANDSHAKE,
            };
            connection.close(code, e.to_string().as_bytes());
            ctx.metrics.dial_failures.inc(e.dial_reason());
            return;
        }
        Ok(Ok(hello)) => hello,
    };
    if let Err(Some(reason)) = admit(&ctx, connection, hello, Direction::Inbound).await {
        ctx.metrics.dial_failures.inc(reason);
    }
}
