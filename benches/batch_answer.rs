//! Reading a batch query's answer (issue 14): InfluxDB 1.x's JSON for
//! `SELECT mean(value) … GROUP BY host` over 10,000 hosts, one point each
//! (about 1 MB), into one batch per series, as each batch task run does
//! before its DAG sees anything.
//!
//! `cargo bench --bench batch_answer`

use criterion::{Criterion, criterion_group, criterion_main};

/// The answer as influxd 1.6 writes it (`epoch=ns`).
fn answer(series: usize) -> Vec<u8> {
    let mut body = String::from(r#"{"results":[{"statement_id":0,"series":["#);
    for i in 0..series {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"name":"cpu","tags":{{"host":"h{i:05}"}},"columns":["time","mean"],"values":[[1733250000000000000,{}]]}}"#,
            if i + 1 == series { 100 } else { 1 }
        ));
    }
    body.push_str("]}]}");
    body.into_bytes()
}

fn bench(c: &mut Criterion) {
    let body = answer(10_000);
    c.bench_function("parse 10k series", |b| {
        b.iter(|| {
            let batches = kapacitor::batch::client::parse_answer(&body, false).expect("parses");
            assert_eq!(batches.len(), 10_000);
            batches
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
