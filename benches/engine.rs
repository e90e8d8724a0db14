//! The operation engine at scale: operations own no timers, so pending ones cost memory, not CPU.
//!
//! `cargo bench --bench engine` reports:
//! - `settle/nothing-due-100k`: a settle with 100k operations pending and none due (what every
//!   request pays): should not grow with the number of pending operations;
//! - `settle/all-due-100k`: applying every stage of 100k three-stage operations (300k deadlines);
//! - `start/100k`: starting 100k operations;
//! - `progress/one`: computing one operation's status and per-stage progress from the clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, criterion_group};
use jiff::{SignedDuration, Timestamp};
use lifecycle_sim::ops::{Hooks, OpError, Operation, OperationId, Ops, Plan};
use std::hint::black_box;
use uuid::Uuid;

const N: u128 = 100_000;

struct NoHooks;

impl Hooks<u32> for NoHooks {
    fn stage_ended(
        &mut self,
        _: &Ops<u32>,
        _: &Operation<u32>,
        _: usize,
        _: Timestamp,
    ) -> Result<(), OpError> {
        Ok(())
    }
    fn finished(&mut self, _: &Operation<u32>, _: Timestamp) {}
}

fn t0() -> Timestamp {
    Timestamp::constant(1_800_000_000, 0)
}

fn plan(i: u128) -> Plan {
    let m = |m: i64| SignedDuration::from_mins(m);
    Plan::fixed([
        ("validate".to_string(), m(5 + (i % 7) as i64)),
        ("provision".to_string(), m(50 + (i % 31) as i64)),
        ("link".to_string(), m(5)),
    ])
}

fn pending(n: u128) -> Ops<u32> {
    let mut ops = Ops::default();
    for i in 0..n {
        ops.start(
            OperationId(Uuid::from_u128(i + 1)),
            i as u32,
            plan(i),
            t0(),
            None,
        )
        .unwrap();
    }
    ops
}

fn bench(c: &mut Criterion) {
    c.bench_function("start/100k", |b| b.iter(|| black_box(pending(N))));

    let mut ops = pending(N);
    c.bench_function("settle/nothing-due-100k", |b| {
        b.iter(|| black_box(ops.settle(t0(), &mut NoHooks)))
    });

    let end = t0().checked_add(SignedDuration::from_hours(3)).unwrap();
    c.bench_function("settle/all-due-100k", |b| {
        b.iter_batched(
            || pending(N),
            |mut ops| black_box(ops.settle(end, &mut NoHooks).len()),
            BatchSize::LargeInput,
        )
    });

    let ops = pending(1);
    let op = ops.iter().next().unwrap();
    let mid = t0().checked_add(SignedDuration::from_mins(30)).unwrap();
    c.bench_function("progress/one", |b| b.iter(|| black_box(op.progress(mid))));
}

/// Resident memory added by 100k pending operations, printed once before the timings.
fn memory() {
    let rss_kib = || -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let before = rss_kib();
    let ops = pending(N);
    let after = rss_kib();
    println!(
        "memory: 100k pending three-stage operations add {:.1} MiB resident (~{} bytes each)",
        (after - before) as f64 / 1024.0,
        (after - before) * 1024 / N as u64
    );
    drop(ops);
}

criterion_group!(benches, bench);

fn main() {
    memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
