//! Criterion micro-benchmarks of the hot pure paths: the network frame codec, entry id hashing,
//! reconciliation of two 100 k-id sets, the ledger core's apply (in order, and replays
//! caused by ops arriving out of order), gossip store writes (deferred and synced), and one
//! Ed25519 signature made and checked (every ledger transfer costs two of each).

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use icn_gossip::reconcile::{self, Id, Limits};
use icn_gossip::{Entry, GossipStore, Topic, WriteMode};
use icn_identity::Keypair;
use icn_ledger::{CreateCurrency, CurrencyCode, LedgerConfig, LedgerCore, Op, SignedOp, Transfer};
use icn_net::WireMessage;
use icn_net::wire::{decode_frame, encode_frame};
use rand::{RngCore as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

/// Frame limit of the codec benchmarks (the node's default).
const MAX_FRAME: usize = 4 * 1024 * 1024;
/// Payload sizes of the codec and hashing benchmarks.
const SIZES: [usize; 3] = [256, 1024, 64 * 1024];

fn frame_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    for size in SIZES {
        let msg = WireMessage::Gossip(vec![0xA5; size].into());
        let frame = encode_frame(&msg, MAX_FRAME).expect("encodes");
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("encode/{size}"), |b| {
            b.iter(|| encode_frame(black_box(&msg), MAX_FRAME))
        });
        group.bench_function(format!("decode/{size}"), |b| {
            b.iter(|| decode_frame(black_box(&frame), MAX_FRAME))
        });
    }
    group.finish();
}

fn entry_id(c: &mut Criterion) {
    let keypair = Keypair::generate();
    let topic = Topic::new("bench").expect("valid topic");
    let mut group = c.benchmark_group("entry_id");
    for size in SIZES {
        let entry = Entry::sign(&keypair, topic.clone(), 1, vec![0x5A; size]);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("{size}"), |b| b.iter(|| black_box(&entry).id()));
    }
    group.finish();
}

/// Runs a whole reconciliation session between `a` and `b`; returns the ids found missing.
fn reconcile_session(a: &[Id], b: &[Id]) -> usize {
    let limits = Limits::default();
    let sets = [a, b];
    let mut msg = reconcile::initiate(a);
    let mut side = 1;
    let mut found = 0;
    loop {
        let step = reconcile::respond(sets[side], &msg, &limits).expect("honest message");
        found += step.have.len() + step.need.len();
        match step.reply {
            Some(reply) => msg = reply,
            None => return found,
        }
        side = 1 - side;
    }
}

fn reconciliation(c: &mut Criterion) {
    const SET: usize = 100_000;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut random_id = || {
        let mut id = [0u8; 32];
        rng.fill_bytes(&mut id);
        id
    };
    let common: Vec<Id> = (0..SET).map(|_| random_id()).collect();
    let mut group = c.benchmark_group("reconcile_100k");
    group.sample_size(10);
    for differ in [0usize, 10, 1000] {
        let mut a = common.clone();
        let mut b = common[differ..].to_vec();
        a.truncate(SET - differ);
        // `differ` ids only in a, `differ` only in b (disjoint ends of the common list).
        a.extend((0..differ).map(|_| random_id()));
        b.extend((0..differ).map(|_| random_id()));
        a.sort_unstable();
        b.sort_unstable();
        group.bench_function(format!("differ_{differ}"), |bench| {
            bench.iter(|| reconcile_session(black_box(&a), black_box(&b)))
        });
    }
    group.finish();
}

/// A currency and `n` transfers from four payers, sorted by timestamp.
fn ledger_ops(n: usize) -> Vec<SignedOp> {
    let issuer = Keypair::from_secret_bytes(&[1; 32]);
    let payers: Vec<Keypair> = (2..6)
        .map(|i| Keypair::from_secret_bytes(&[i; 32]))
        .collect();
    let code = CurrencyCode::new("BENCH").expect("valid code");
    let mut ops = vec![
        Op::CreateCurrency(CreateCurrency {
            code: code.clone(),
            issuer: issuer.did(),
            default_credit_limit: 1 << 40,
            timestamp_ms: 1,
        })
        .sign(&issuer),
    ];
    for i in 0..n {
        let payer = &payers[i % payers.len()];
        let to = payers[(i + 1) % payers.len()].did();
        let op = Op::Transfer(Transfer {
            currency: code.clone(),
            from: payer.did(),
            to,
            amount: 1,
            seq: (i / payers.len()) as u64 + 1,
            timestamp_ms: 2 + i as u64,
            memo: String::new(),
        });
        ops.push(op.sign(payer));
    }
    ops
}

fn ledger_apply(c: &mut Criterion) {
    const OPS: usize = 1000;
    let ops = ledger_ops(OPS);
    let now = OPS as u64 + 10;
    let mut group = c.benchmark_group("ledger_apply_1000");
    group.throughput(Throughput::Elements(OPS as u64));
    group.sample_size(10);
    let apply = |order: Vec<SignedOp>| {
        let mut core = LedgerCore::new(LedgerConfig::default());
        for op in order {
            let _ = core.insert(op, now);
        }
        core
    };
    group.bench_function("in_order", |b| {
        b.iter_batched(|| ops.clone(), apply, BatchSize::LargeInput)
    });
    group.bench_function("batch_in_order", |b| {
        b.iter_batched(
            || ops.clone(),
            |order| {
                let mut core = LedgerCore::new(LedgerConfig::default());
                let _ = core.insert_batch(order, now);
                core
            },
            BatchSize::LargeInput,
        )
    });
    // Every tenth op arrives 50 places late: each of those replays the 50 ops after it.
    let mut late = ops.clone();
    for i in (1..late.len().saturating_sub(50)).step_by(10) {
        late[i..=i + 50].rotate_left(1);
    }
    group.bench_function("late_every_10th", |b| {
        b.iter_batched(|| late.clone(), apply, BatchSize::LargeInput)
    });
    // Newest first: every insert replays everything after it (the worst case).
    let reversed: Vec<SignedOp> = ops.iter().skip(1).rev().cloned().collect();
    group.bench_function("reversed", |b| {
        b.iter_batched(
            || {
                let mut order = vec![ops[0].clone()];
                order.extend(reversed.iter().cloned());
                order
            },
            apply,
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// One write of `n` fresh 1 KiB entries to a gossip store on the disk of `target/`, deferred
/// (commit only) and durable (commit and sync): what the gossip actor pays per batch.
fn store_write(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let store = GossipStore::open(&dir.path().join("gossip.redb")).expect("store opens");
    let keypair = Keypair::generate();
    let topic = Topic::new("bench").expect("valid topic");
    let mut group = c.benchmark_group("store_write");
    group.sample_size(20);
    let mut stamp = 0u64;
    // Batches of 1 KiB entries, and of 64 KiB ones (stored in pieces).
    for (n, size, label) in [(1usize, 1024, ""), (64, 1024, ""), (16, 65_536, "x64KiB")] {
        for (name, mode) in [
            ("deferred", WriteMode::Deferred),
            ("durable", WriteMode::Durable),
        ] {
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(format!("{name}/{n}{label}"), |b| {
                b.iter_batched(
                    || {
                        (0..n)
                            .map(|_| {
                                stamp += 1;
                                Entry::sign(&keypair, topic.clone(), stamp, vec![0x5A; size])
                            })
                            .collect::<Vec<_>>()
                    },
                    |entries| store.put_batch_with(&entries, mode).expect("written"),
                    BatchSize::SmallInput,
                )
            });
        }
    }
    store.sync().expect("synced");
    group.finish();
}

/// Signing and checking a 200-byte message (about a ledger op): what each signature costs.
fn signature(c: &mut Criterion) {
    let keypair = Keypair::generate();
    let did = keypair.did();
    let message = [0x42u8; 200];
    let signed = keypair.sign(&message);
    let mut group = c.benchmark_group("signature");
    group.bench_function("sign", |b| b.iter(|| keypair.sign(black_box(&message))));
    group.bench_function("verify", |b| {
        b.iter(|| did.verify(black_box(&message), &signed).expect("valid"))
    });
    // Batches by one key, as a push or a response of one author's entries: 3 is what a push
    // of 64 KiB entries carries.
    for n in [3usize, 16, 64] {
        let items: Vec<_> = (0..n)
            .map(|i| {
                let message = vec![i as u8; 200];
                let signature = keypair.sign(&message);
                (did, message, signature)
            })
            .collect();
        let batch: Vec<_> = items.iter().map(|(d, m, s)| (d, m.as_slice(), s)).collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("verify_batch/{n}"), |b| {
            b.iter(|| icn_identity::verify_batch(black_box(&batch)))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    frame_codec,
    entry_id,
    reconciliation,
    ledger_apply,
    store_write,
    signature
);
criterion_main!(benches);
