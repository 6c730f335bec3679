//! The key-value state machine: commands, exactly-once sessions, snapshots.

use kv_store::{Command, KvError, KvStore, Query, Reply, Session, SetCondition, Write};
use raft_runtime::StateMachine;

fn w(command: Command) -> Write {
    Write {
        session: None,
        command,
    }
}

fn set(k: &str, v: &str) -> Command {
    Command::Set {
        key: k.into(),
        value: v.into(),
        condition: SetCondition::Always,
    }
}

fn get(s: &KvStore, k: &str) -> Reply {
    s.read(&Query::Get { key: k.into() })
}

/// Runs `writes` from index 1 on and returns the replies.
fn run(s: &mut KvStore, writes: Vec<Write>) -> Vec<Reply> {
    writes
        .into_iter()
        .enumerate()
        .map(|(i, wr)| s.write(i as u64 + 1, wr))
        .collect()
}

#[test]
fn every_command_does_what_redis_does() {
    let mut s = KvStore::new();
    let cases: Vec<(Command, Reply)> = vec![
        (set("a", "1"), Reply::Ok),
        (
            Command::Set {
                key: "a".into(),
                value: "2".into(),
                condition: SetCondition::IfAbsent,
            },
            Reply::Nil,
        ),
        (
            Command::Set {
                key: "a".into(),
                value: "3".into(),
                condition: SetCondition::IfPresent,
            },
            Reply::Ok,
        ),
        (
            Command::Set {
                key: "b".into(),
                value: "x".into(),
                condition: SetCondition::IfPresent,
            },
            Reply::Nil,
        ),
        (
            Command::IncrBy {
                key: "n".into(),
                by: 5,
            },
            Reply::Int(5),
        ),
        (
            Command::IncrBy {
                key: "n".into(),
                by: -7,
            },
            Reply::Int(-2),
        ),
        (
            Command::IncrBy {
                key: "a".into(),
                by: 1,
            },
            Reply::Int(4),
        ),
        (set("s", "text"), Reply::Ok),
        (
            Command::IncrBy {
                key: "s".into(),
                by: 1,
            },
            Reply::Error(KvError::NotAnInteger),
        ),
        (
            Command::Cas {
                key: "a".into(),
                expected: Some("4".into()),
                new: "cas".into(),
            },
            Reply::Int(1),
        ),
        (
            Command::Cas {
                key: "a".into(),
                expected: Some("4".into()),
                new: "again".into(),
            },
            Reply::Int(0),
        ),
        (
            Command::Cas {
                key: "new".into(),
                expected: None,
                new: "born".into(),
            },
            Reply::Int(1),
        ),
        (
            Command::MSet {
                pairs: vec![("m1".into(), "x".into()), ("m2".into(), "y".into())],
            },
            Reply::Ok,
        ),
        (
            Command::Del {
                keys: vec!["m1".into(), "missing".into()],
            },
            Reply::Int(1),
        ),
    ];
    for (i, (c, expected)) in cases.into_iter().enumerate() {
        assert_eq!(s.write(i as u64 + 1, w(c.clone())), expected, "{c:?}");
    }
    assert_eq!(get(&s, "a"), Reply::Bulk("cas".into()));
    assert_eq!(get(&s, "m1"), Reply::Nil);
    assert_eq!(
        s.read(&Query::Exists {
            keys: vec!["a".into(), "m2".into(), "zz".into()]
        }),
        Reply::Int(2)
    );
    assert_eq!(
        s.read(&Query::MGet {
            keys: vec!["m2".into(), "zz".into()]
        }),
        Reply::Values(vec![Some("y".into()), None])
    );
    run(
        &mut s,
        vec![
            w(set("user:1", "ann")),
            w(set("user:2", "bob")),
            w(set("users", "x")),
        ],
    );
    assert_eq!(
        s.read(&Query::Scan {
            prefix: "user:".into(),
            limit: 10
        }),
        Reply::Pairs(vec![
            ("user:1".into(), "ann".into()),
            ("user:2".into(), "bob".into())
        ])
    );
    assert_eq!(
        s.write(
            99,
            w(Command::IncrBy {
                key: "n".into(),
                by: i64::MAX
            })
        ),
        Reply::Int(i64::MAX - 2)
    );
    assert!(matches!(
        s.write(
            100,
            w(Command::IncrBy {
                key: "n".into(),
                by: 3
            })
        ),
        Reply::Error(_)
    ));
}

fn incr_in(client: u64, seq: u64, by: i64) -> Write {
    Write {
        session: Some(Session { client, seq }),
        command: Command::IncrBy {
            key: "c".into(),
            by,
        },
    }
}

fn is_expired(r: &Reply) -> bool {
    matches!(r, Reply::Error(KvError::SessionExpired { .. }))
}

#[test]
fn a_retried_write_is_applied_once_and_answered_as_the_first_time() {
    let mut s = KvStore::new();
    // Registering answers the session's id: its entry's index.
    assert_eq!(s.write(7, w(Command::RegisterSession)), Reply::Int(7));
    let incr = |seq| incr_in(7, seq, 1);
    assert_eq!(s.write(8, incr(1)), Reply::Int(1));
    // The client did not hear back and retries: same reply, no second increment.
    assert_eq!(s.write(9, incr(1)), Reply::Int(1));
    assert_eq!(s.write(10, incr(2)), Reply::Int(2));
    assert_eq!(s.write(11, incr(2)), Reply::Int(2));
    // A retry of an older request than the last is refused, not applied.
    assert!(matches!(s.write(12, incr(1)), Reply::Error(_)));
    assert_eq!(get(&s, "c"), Reply::Bulk("2".into()));
    // Other clients are independent.
    assert_eq!(s.write(13, w(Command::RegisterSession)), Reply::Int(13));
    assert_eq!(s.write(14, incr_in(13, 1, 10)), Reply::Int(12));
    // Sequence numbers start at 1; a session cannot be registered inside one.
    assert!(matches!(s.write(15, incr_in(13, 0, 1)), Reply::Error(_)));
    let nested = Write {
        session: Some(Session { client: 13, seq: 2 }),
        command: Command::RegisterSession,
    };
    assert!(matches!(s.write(16, nested), Reply::Error(_)));
    assert_eq!(get(&s, "c"), Reply::Bulk("12".into()));
}

/// Before, a retry arriving after its session had expired was taken for a new client's first
/// write and ran a second time. Now it is refused, distinctly, and never executed.
#[test]
fn a_retry_after_its_session_expired_is_refused_not_run_again() {
    let mut s = KvStore::with_session_ttl(10);
    assert_eq!(s.write(1, w(Command::RegisterSession)), Reply::Int(1));
    assert_eq!(s.write(2, incr_in(1, 1, 1)), Reply::Int(1));
    for i in 3..=20 {
        s.write(i, w(set("filler", "x")));
    }
    assert_eq!(s.sessions(), 0, "expired");
    assert!(is_expired(&s.write(21, incr_in(1, 1, 1))));
    assert_eq!(get(&s, "c"), Reply::Bulk("1".into()), "not applied twice");
    // A session nobody registered is refused the same way.
    assert!(is_expired(&s.write(22, incr_in(99, 1, 1))));
    assert_eq!(get(&s, "c"), Reply::Bulk("1".into()));
}

#[test]
fn idle_sessions_expire_by_log_position_on_every_replica_alike() {
    let writes = |ttl| {
        let mut s = KvStore::with_session_ttl(ttl);
        s.write(1, w(Command::RegisterSession));
        s.write(
            2,
            Write {
                session: Some(Session { client: 1, seq: 1 }),
                command: set("k", "v"),
            },
        );
        for i in 3..=20 {
            s.write(i, w(set("filler", "x")));
        }
        s
    };
    assert_eq!(writes(100).sessions(), 1);
    let expired = writes(10);
    assert_eq!(expired.sessions(), 0);
    // Two replicas that applied the same log agree exactly.
    assert_eq!(writes(10).digest(), expired.digest());
}

#[test]
fn a_snapshot_restores_the_state_and_sessions_and_refuses_damage() {
    let mut s = KvStore::new();
    run(
        &mut s,
        vec![
            w(Command::RegisterSession),
            w(set("a", "1")),
            Write {
                session: Some(Session { client: 1, seq: 9 }),
                command: Command::IncrBy {
                    key: "n".into(),
                    by: 4,
                },
            },
        ],
    );
    let snap = s.snapshot();
    let mut t = KvStore::new();
    t.restore(&snap).unwrap();
    assert_eq!(t.digest(), s.digest());
    // The session came along: the retry is still recognised.
    let retry = Write {
        session: Some(Session { client: 1, seq: 9 }),
        command: Command::IncrBy {
            key: "n".into(),
            by: 4,
        },
    };
    assert_eq!(t.write(4, retry), Reply::Int(4));
    let mut damaged = snap.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    assert!(KvStore::new().restore(&damaged).is_err());
    assert!(KvStore::new().restore(&[1, 2]).is_err());
    // Another format version, with a valid checksum, is refused by name, not misread.
    let mut other = snap[4..].to_vec();
    other[0] = kv_store::machine::SNAPSHOT_VERSION + 1;
    let mut other_version = crc32fast::hash(&other).to_le_bytes().to_vec();
    other_version.extend_from_slice(&other);
    let e = KvStore::new().restore(&other_version).unwrap_err();
    assert!(e.contains("version"), "{e}");
}

#[test]
fn undecodable_commands_are_refused_alike_everywhere() {
    // (Queries are typed values that never leave the process, so none is undecodable.)
    let mut s = KvStore::new();
    let reply = s.apply(1, &[0xff, 0xff, 0xff]);
    assert!(
        matches!(reply, Reply::Error(KvError::Undecodable(_))),
        "{reply:?}"
    );
    assert!(s.is_empty());
}

#[test]
fn a_read_larger_than_the_reply_limit_is_refused_not_built() {
    let mut s = KvStore::new();
    let big = vec![b'x'; 1 << 20];
    s.write(
        1,
        w(Command::Set {
            key: "big".into(),
            value: big,
            condition: SetCondition::Always,
        }),
    );
    let copies = kv_store::REPLY_BYTES_MAX / (1 << 20) + 1;
    let keys = vec![b"big".to_vec(); copies];
    let Reply::Error(e) = s.read(&Query::MGet { keys }) else {
        panic!("an MGET over the limit was answered");
    };
    assert!(
        matches!(e, KvError::ReplyTooLarge { bytes, max } if bytes > max),
        "{e}"
    );
    assert!(e.to_string().contains("over the limit"), "{e}");
    // Under the limit it is answered.
    let keys = vec![b"big".to_vec(); 2];
    assert!(matches!(s.read(&Query::MGet { keys }), Reply::Values(v) if v.len() == 2));
    // A scan past the limit is refused the same way.
    for i in 0..copies {
        s.write(
            i as u64 + 2,
            w(Command::Set {
                key: format!("p{i}").into(),
                value: vec![b'y'; 1 << 20],
                condition: SetCondition::Always,
            }),
        );
    }
    let scan = Query::Scan {
        prefix: b"p".to_vec(),
        limit: 100_000,
    };
    assert!(matches!(s.read(&scan), Reply::Error(_)));
}
