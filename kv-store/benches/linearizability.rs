//! How long the checker takes on a 10,000-operation history over 10 keys with 10 clients.
//! Run: `cargo bench -p kv-store --bench linearizability`.

use criterion::{criterion_group, criterion_main, Criterion};
use kv_store::testing::linearizability::{check, generated, Verdict};

fn bench(c: &mut Criterion) {
    let h = generated(10_000, 10, 10, 7);
    c.bench_function("check 10k ops, 10 keys, 10 clients", |b| {
        b.iter(|| assert_eq!(check(&h), Verdict::Linearizable))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
