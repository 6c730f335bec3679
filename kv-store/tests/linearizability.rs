//! The linearizability checker's own tests.

use kv_store::testing::linearizability::{check, generated, Op, Operation, Verdict};

fn v(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

fn op(client: u64, op: Op, invoked: u64, completed: Option<u64>) -> Operation {
    Operation {
        client,
        key: b"k".to_vec(),
        op,
        invoked,
        completed,
    }
}

fn w(s: &str) -> Op {
    Op::Write(s.as_bytes().to_vec())
}

fn r(s: Option<&str>) -> Op {
    Op::Read(s.map(|s| s.as_bytes().to_vec()))
}

fn cas(expected: &str, new: &str, swapped: Option<bool>) -> Op {
    Op::Cas {
        expected: v(expected),
        new: new.as_bytes().to_vec(),
        swapped,
    }
}

fn linearizable(h: &[Operation]) -> bool {
    check(h) == Verdict::Linearizable
}

#[test]
fn linearizable_histories_are_accepted() {
    let cases: Vec<Vec<Operation>> = vec![
        vec![],
        // Sequential.
        vec![op(1, w("a"), 0, Some(1)), op(1, r(Some("a")), 2, Some(3))],
        // A read overlapping a write may see either value.
        vec![op(1, w("a"), 0, Some(10)), op(2, r(None), 1, Some(2))],
        vec![op(1, w("a"), 0, Some(10)), op(2, r(Some("a")), 1, Some(2))],
        // Concurrent writes, then reads agreeing on one winner.
        vec![
            op(1, w("a"), 0, Some(5)),
            op(2, w("b"), 1, Some(6)),
            op(3, r(Some("a")), 7, Some(8)),
            op(4, r(Some("a")), 9, Some(10)),
        ],
        // A write whose outcome is unknown may have happened late, or never.
        vec![
            op(1, w("a"), 0, None),
            op(2, r(None), 5, Some(6)),
            op(2, r(Some("a")), 7, Some(8)),
        ],
        vec![op(1, w("a"), 0, None), op(2, r(None), 5, Some(6))],
        // CAS.
        vec![
            op(1, w("a"), 0, Some(1)),
            op(2, cas("a", "b", Some(true)), 2, Some(3)),
            op(3, r(Some("b")), 4, Some(5)),
        ],
    ];
    for (i, h) in cases.iter().enumerate() {
        assert!(linearizable(h), "case {i} rejected");
    }
}

#[test]
fn anomalies_are_rejected_with_the_failing_key_history() {
    let cases: Vec<(&str, Vec<Operation>)> = vec![
        (
            "stale read",
            vec![
                op(1, w("a"), 0, Some(1)),
                op(1, w("b"), 2, Some(3)),
                op(2, r(Some("a")), 4, Some(5)),
            ],
        ),
        (
            "lost write",
            vec![op(1, w("a"), 0, Some(1)), op(2, r(None), 2, Some(3))],
        ),
        (
            "write from nowhere",
            vec![op(1, w("a"), 0, Some(1)), op(2, r(Some("z")), 2, Some(3))],
        ),
        (
            "a CAS that succeeded twice",
            vec![
                op(1, w("a"), 0, Some(1)),
                op(2, cas("a", "b", Some(true)), 2, Some(5)),
                op(3, cas("a", "c", Some(true)), 3, Some(6)),
            ],
        ),
        (
            "reads disagreeing on the order of writes",
            vec![
                op(1, w("a"), 0, Some(5)),
                op(2, w("b"), 0, Some(5)),
                op(3, r(Some("a")), 6, Some(7)),
                op(3, r(Some("b")), 8, Some(9)),
                op(4, r(Some("a")), 10, Some(11)),
            ],
        ),
    ];
    for (what, h) in cases {
        match check(&h) {
            Verdict::Violation { key, history } => {
                assert_eq!(key, b"k");
                assert_eq!(
                    history.lines().count(),
                    h.len(),
                    "{what}: the report lists the key's history"
                );
            }
            other => panic!("{what}: expected a violation, got {other:?}"),
        }
    }
}

#[test]
fn only_the_failing_key_is_reported() {
    let mut h = vec![op(1, w("a"), 0, Some(1)), op(2, r(Some("a")), 2, Some(3))];
    let mut bad = op(3, r(Some("ghost")), 4, Some(5));
    bad.key = b"other".to_vec();
    h.push(bad);
    assert!(matches!(check(&h), Verdict::Violation { key, .. } if key == b"other"));
}

#[test]
fn a_generated_history_of_10000_operations_over_10_keys_is_accepted() {
    let h = generated(10_000, 10, 10, 7);
    assert_eq!(h.len(), 10_000);
    assert_eq!(check(&h), Verdict::Linearizable);
    // And one changed read makes it fail.
    let mut broken = h.clone();
    let i = broken
        .iter()
        .position(|o| matches!(o.op, Op::Read(Some(_))))
        .unwrap();
    broken[i].op = Op::Read(Some(b"never written".to_vec()));
    assert!(matches!(check(&broken), Verdict::Violation { .. }));
}
