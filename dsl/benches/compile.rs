//! Parse + compile of a 200-line script; the goal is under 1 ms.

use criterion::{Criterion, criterion_group, criterion_main};

/// Ten tasks' worth of pipelines, 20 lines each.
fn script() -> String {
    let mut s = String::new();
    for i in 0..10 {
        s.push_str(&format!(
            "var data{i} = stream
    |from()
        .measurement('cpu{i}')
        .where(lambda: \"host\" == 'server{i}' AND \"usage\" > 10.0)
        .groupBy('host', 'dc')
var avg{i} = data{i}
    |window()
        .period(10s)
        .every(5s)
    |mean('usage')
        .as('value')
avg{i}
    |eval(lambda: \"value\" * 2.0 + 1.0)
        .as('doubled')
    |alert()
        .id('{{{{ .Name }}}}/{i}')
        .warn(lambda: \"doubled\" > 70.0)
        .crit(lambda: \"doubled\" > 90.0 OR \"host\" =~ /^db/)
        .stateChangesOnly()
        .post('http://example.com/{i}')
"
        ));
    }
    assert_eq!(s.lines().count(), 200);
    s
}

fn bench(c: &mut Criterion) {
    let src = script();
    assert!(dsl::compile(&src, dsl::TaskType::Stream).is_ok());
    c.bench_function("compile_200_lines", |b| {
        b.iter(|| dsl::compile(std::hint::black_box(&src), dsl::TaskType::Stream))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
