//! The key-value state machine: commands, exactly-once sessions, the replicated clock and
//! deadlines, snapshots. (Every Redis command's replies are checked against Redis's own in
//! `redis_compat.rs`.)

use kv_store::machine::{Expiry, KeyRead, KeyWrite, SetCondition, StringWrite};
use kv_store::{Command, KvError, KvStore, Query, Read, Reply, Session, Write};
use raft_runtime::StateMachine;

/// The time every write below is stamped with, unless a test says otherwise.
const T0: u64 = 1_700_000_000_000;

fn w(command: Command) -> Write {
    at(T0, command)
}

fn at(time_ms: u64, command: Command) -> Write {
    Write {
        session: None,
        time_ms,
        command,
    }
}

fn set(k: &str, v: &str) -> Command {
    Command::set(k, v)
}

fn get(s: &KvStore, k: &str) -> Reply {
    s.read(&Read::at(T0, Query::get(k)))
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
fn writes_and_reads_answer_as_redis_does() {
    let mut s = KvStore::new();
    let cases: Vec<(Command, Reply)> = vec![
        (set("a", "1"), Reply::Ok),
        (Command::incr_by("a", 41), Reply::Int(42)),
        (
            Command::Cas {
                key: "a".into(),
                expected: Some("42".into()),
                new: "cas".into(),
            },
            Reply::Int(1),
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
            Command::del(vec!["new".into(), "missing".into()]),
            Reply::Int(1),
        ),
        (
            Command::incr_by("a", 1),
            Reply::Error(KvError::NotAnInteger),
        ),
    ];
    for (i, (c, expected)) in cases.into_iter().enumerate() {
        assert_eq!(s.write(i as u64 + 1, w(c.clone())), expected, "{c:?}");
    }
    assert_eq!(get(&s, "a"), Reply::Bulk("cas".into()));
    assert_eq!(
        s.read(&Read::at(T0, Query::mget(vec!["a".into(), "zz".into()]))),
        Reply::Array(vec![Reply::Bulk("cas".into()), Reply::Nil])
    );
    run(
        &mut s,
        vec![
            w(set("user:1", "ann")),
            w(set("user:2", "bob")),
            w(set("users", "x")),
        ],
    );
    let scan = Query::ScanPrefix {
        prefix: "user:".into(),
        limit: 10,
    };
    assert_eq!(
        s.read(&Read::at(T0, scan)),
        Reply::Array(
            ["user:1", "ann", "user:2", "bob"]
                .map(|b| Reply::Bulk(b.into()))
                .to_vec()
        )
    );
    assert_eq!(
        s.write(99, w(Command::incr_by("n", i64::MAX))),
        Reply::Int(i64::MAX)
    );
    assert_eq!(
        s.write(100, w(Command::incr_by("n", 1))),
        Reply::Error(KvError::Overflow)
    );
}

fn incr_in(client: u64, seq: u64, by: i64) -> Write {
    Write {
        session: Some(Session { client, seq }),
        time_ms: T0,
        command: Command::incr_by("c", by),
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
        time_ms: T0,
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
                time_ms: T0,
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
                time_ms: T0,
                command: Command::incr_by("n", 4),
            },
        ],
    );
    let snap = image(&s);
    let mut t = KvStore::new();
    t.restore(&mut &snap[..]).unwrap();
    assert_eq!(t.digest(), s.digest());
    // The session came along: the retry is still recognised.
    let retry = Write {
        session: Some(Session { client: 1, seq: 9 }),
        time_ms: T0,
        command: Command::incr_by("n", 4),
    };
    assert_eq!(t.write(4, retry), Reply::Int(4));
    // Damage anywhere is caught by a frame's checksum or framing, and a stream cut short
    // anywhere is refused, never taken for a smaller state.
    for at in 0..snap.len() {
        let mut damaged = snap.clone();
        damaged[at] ^= 0x40;
        assert!(
            restore(&damaged).is_err(),
            "damage at byte {at} went unseen"
        );
        assert!(
            restore(&snap[..at]).is_err(),
            "cut at byte {at} went unseen"
        );
    }
    // Another format version is refused by name, not misread.
    let mut other_version = snap.clone();
    other_version[0] = kv_store::machine::SNAPSHOT_VERSION + 1;
    let e = restore(&other_version).unwrap_err();
    assert!(e.contains("version"), "{e}");
}

/// The serialized snapshot of `s`, as the runtime's snapshot thread writes it.
fn image(s: &KvStore) -> Vec<u8> {
    use raft_runtime::{SnapshotImage, StateMachine};
    let mut out = Vec::new();
    StateMachine::snapshot(s).write_to(&mut out).unwrap();
    out
}

/// A store restored from `bytes`.
fn restore(bytes: &[u8]) -> Result<KvStore, String> {
    use raft_runtime::StateMachine;
    let mut t = KvStore::new();
    t.restore(&mut &bytes[..])?;
    Ok(t)
}

/// A state larger than one frame, with hashes, deadlines, removals and sessions, comes back
/// whole; and the image taken before later writes still holds the state as it was.
#[test]
fn a_snapshot_spans_many_frames_and_is_a_point_in_time() {
    use raft_runtime::{SnapshotImage, StateMachine};
    let mut s = KvStore::new();
    let mut index = 0;
    let mut next = || {
        index += 1;
        index
    };
    s.write(next(), w(Command::RegisterSession));
    for i in 0..20_000 {
        s.write(next(), w(set(&format!("key:{i}"), &"v".repeat(100))));
    }
    for i in 0..50 {
        let pairs = (0..100)
            .map(|f| (format!("f{f}").into_bytes(), format!("{i}").into_bytes()))
            .collect();
        let key = format!("h{i}").into_bytes();
        let hset = kv_store::machine::HashWrite::Set {
            key,
            pairs,
            ok: false,
        };
        s.write(next(), w(Command::Hash(hset)));
    }
    for i in 0..500 {
        s.write(next(), w(Command::del(vec![format!("key:{i}").into()])));
    }
    let before = s.digest();
    let held = StateMachine::snapshot(&s);
    // Writes after the image change the store, not the image.
    for i in 0..1_000 {
        s.write(next(), w(set(&format!("key:{i}"), "changed")));
    }
    s.write(next(), w(Command::Key(KeyWrite::FlushAll)));
    let mut bytes = Vec::new();
    held.write_to(&mut bytes).unwrap();
    assert!(
        bytes.len() > 4 * kv_store::machine::FRAME_BYTES,
        "{}",
        bytes.len()
    );
    let t = restore(&bytes).unwrap();
    assert_eq!(t.digest(), before);
    assert_eq!(t.len(), 20_000 - 500 + 50);
    assert_eq!(t.sessions(), 1);
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
    s.write(1, w(Command::set("big", vec![b'x'; 1 << 20])));
    let copies = kv_store::REPLY_BYTES_MAX / (1 << 20) + 1;
    let keys = vec![b"big".to_vec(); copies];
    let Reply::Error(e) = s.read(&Read::at(T0, Query::mget(keys))) else {
        panic!("an MGET over the limit was answered");
    };
    assert!(
        matches!(e, KvError::ReplyTooLarge { bytes, max } if bytes > max),
        "{e}"
    );
    assert!(e.to_string().contains("over the limit"), "{e}");
    // Under the limit it is answered.
    let keys = vec![b"big".to_vec(); 2];
    assert!(matches!(s.read(&Read::at(T0, Query::mget(keys))), Reply::Array(v) if v.len() == 2));
    // A scan past the limit is refused the same way.
    for i in 0..copies {
        s.write(
            i as u64 + 2,
            w(Command::set(format!("p{i}"), vec![b'y'; 1 << 20])),
        );
    }
    let scan = Query::ScanPrefix {
        prefix: b"p".to_vec(),
        limit: 100_000,
    };
    assert!(matches!(s.read(&Read::at(T0, scan)), Reply::Error(_)));
}

fn set_px(key: &str, ms: u64) -> Command {
    Command::String(StringWrite::Set {
        key: key.into(),
        value: "v".into(),
        condition: SetCondition::Always,
        expiry: Expiry::In(ms),
        get: false,
    })
}

fn pttl(s: &KvStore, key: &str, now: u64) -> Reply {
    let q = Query::Key(KeyRead::Ttl {
        key: key.into(),
        millis: true,
        absolute: false,
    });
    s.read(&Read::at(now, q))
}

/// Time enters only through the log: a deadline is the write's time on the replicated clock
/// plus the TTL, and the clock never goes backwards, whatever the proposers' clocks say.
#[test]
fn deadlines_run_on_the_replicated_clock_which_never_goes_backwards() {
    let mut s = KvStore::new();
    s.write(1, at(T0, set_px("k", 1000)));
    assert_eq!(s.clock_ms(), T0);
    assert_eq!(pttl(&s, "k", T0 + 300), Reply::Int(700));
    // A leader whose clock is behind stamps an earlier time: the clock stays where it was,
    // and a TTL set now counts from the replicated clock, not from the stale one.
    s.write(2, at(T0 - 60_000, set_px("j", 1000)));
    assert_eq!(s.clock_ms(), T0);
    assert_eq!(pttl(&s, "j", T0), Reply::Int(1000));
    assert_eq!(pttl(&s, "k", T0), Reply::Int(1000));
}

/// A linearizable read never returns a key whose deadline its reader's clock has passed, and
/// when that relies on a time the log has not reached it is sent through the log, so that no
/// later read (on a leader whose clock is behind) finds the key alive again.
#[test]
fn a_read_that_relies_on_an_unlogged_time_goes_through_the_log() {
    let mut s = KvStore::new();
    s.write(1, at(T0, set_px("k", 1000)));
    let q = Query::get("k");
    // Before the deadline: answered.
    assert_eq!(
        s.read(&Read::at(T0 + 999, q.clone())),
        Reply::Bulk("v".into())
    );
    // Past it on the reader's clock only: a local read says absent; a linearizable one must
    // go through the log.
    assert_eq!(s.read(&Read::local_at(T0 + 1000, q.clone())), Reply::Nil);
    let Reply::ReadThroughLog(again) = s.read(&Read::at(T0 + 1000, q.clone())) else {
        panic!("answered without moving the replicated clock");
    };
    assert_eq!(*again, q);
    // A tick through the log moves the clock to the reader's time; asked again, the key is
    // gone...
    assert_eq!(s.write(2, at(T0 + 1000, Command::Tick)), Reply::Ok);
    assert_eq!(s.read(&Read::at(T0 + 1000, q.clone())), Reply::Nil);
    // ...for every later reader, even one whose clock is far behind.
    assert_eq!(s.read(&Read::at(T0, q)), Reply::Nil);
    assert_eq!(pttl(&s, "k", T0), Reply::Int(-2));
}

/// Active expiry goes through the log: it reclaims what the replicated clock has passed, and
/// nothing else, the same on every replica.
#[test]
fn active_expiry_reclaims_keys_whose_deadline_the_clock_has_passed() {
    let log = vec![
        at(T0, set_px("a", 10)),
        at(T0, set_px("b", 10)),
        at(T0, set_px("c", 5000)),
        at(T0, set("d", "forever")),
        at(T0 + 20, Command::ExpireDue { limit: 1 }),
        at(T0 + 20, Command::ExpireDue { limit: 100 }),
        at(T0 + 20, Command::ExpireDue { limit: 100 }),
    ];
    let mut s = KvStore::new();
    let replies = run(&mut s, log.clone());
    assert_eq!(replies[4..], [Reply::Int(1), Reply::Int(1), Reply::Int(0)]);
    assert_eq!(s.len(), 2);
    let next = s.read(&Read::at(T0, Query::NextDeadline));
    assert_eq!(next, Reply::Int((T0 + 5000) as i64));
    // A replica that applied the same log, with reads in between, has the same state.
    let mut r = KvStore::new();
    for (i, wr) in log.into_iter().enumerate() {
        r.read(&Read::at(T0 + 30, Query::get("a")));
        r.write(i as u64 + 1, wr);
    }
    assert_eq!(r.digest(), s.digest());
}

/// Deadlines and the clock are part of the state: a snapshot carries them.
#[test]
fn deadlines_and_the_clock_survive_a_snapshot() {
    let mut s = KvStore::new();
    run(
        &mut s,
        vec![
            at(T0, set_px("k", 1000)),
            at(T0 + 500, set("other", "x")),
            at(
                T0 + 500,
                Command::Key(KeyWrite::Persist {
                    key: "other".into(),
                }),
            ),
        ],
    );
    let t = restore(&image(&s)).unwrap();
    assert_eq!(t.clock_ms(), T0 + 500);
    assert_eq!(pttl(&t, "k", T0 + 500), Reply::Int(500));
    assert_eq!(t.digest(), s.digest());
}

/// Before, HMGET, HRANDFIELD with a negative count, SCAN and HSCAN built replies of any size
/// (a small request could make a node allocate terabytes and abort): now each is refused past
/// the reply limit like MGET.
#[test]
fn every_read_that_can_grow_is_bounded_by_the_reply_limit() {
    use kv_store::machine::{HashRead, HashWrite};
    let mut s = KvStore::new();
    let mb = vec![b'x'; 1 << 20];
    s.write(
        1,
        w(Command::Hash(HashWrite::Set {
            key: "h".into(),
            pairs: vec![(b"f".to_vec(), mb.clone())],
            ok: false,
        })),
    );
    let copies = kv_store::REPLY_BYTES_MAX / (1 << 20) + 1;
    let too_large = |r: Reply| matches!(r, Reply::Error(KvError::ReplyTooLarge { .. }));
    let hmget = Query::Hash(HashRead::MGet {
        key: "h".into(),
        fields: vec![b"f".to_vec(); copies],
    });
    assert!(too_large(s.read(&Read::at(T0, hmget))));
    let rand = Query::Hash(HashRead::RandField {
        key: "h".into(),
        count: Some(-(copies as i64)),
        with_values: true,
    });
    assert!(too_large(s.read(&Read::at(T0, rand))));
    // Keys whose values are large do not count for SCAN, but the keys do: long keys sharing
    // one page.
    let long_key = |i: usize| {
        let mut k = vec![b'k'; 1 << 20];
        k.extend_from_slice(i.to_string().as_bytes());
        k
    };
    for i in 0..copies {
        s.write(i as u64 + 2, w(Command::set(long_key(i), "v")));
    }
    let scan = Query::Key(KeyRead::Scan {
        cursor: 0,
        pattern: None,
        count: usize::MAX,
        type_name: None,
    });
    assert!(too_large(s.read(&Read::at(T0, scan))));
    let fields: Vec<(Vec<u8>, Vec<u8>)> =
        (0..copies).map(|i| (long_key(i), b"v".to_vec())).collect();
    s.write(
        1000,
        w(Command::Hash(HashWrite::Set {
            key: "wide".into(),
            pairs: fields,
            ok: false,
        })),
    );
    let hscan = Query::Hash(HashRead::Scan {
        key: "wide".into(),
        cursor: 0,
        pattern: None,
        count: usize::MAX,
    });
    assert!(too_large(s.read(&Read::at(T0, hscan))));
}

/// Before, an HSET with no pairs (not expressible in RESP, but a `Command` is public and comes
/// from the log) left an empty hash behind, and HRANDFIELD on it panicked the apply thread.
#[test]
fn an_empty_hset_creates_nothing() {
    use kv_store::machine::{HashRead, HashWrite};
    let mut s = KvStore::new();
    let empty = Command::Hash(HashWrite::Set {
        key: "h".into(),
        pairs: Vec::new(),
        ok: false,
    });
    assert_eq!(s.write(1, w(empty)), Reply::Int(0));
    assert!(s.is_empty());
    let rand = Query::Hash(HashRead::RandField {
        key: "h".into(),
        count: None,
        with_values: false,
    });
    assert_eq!(s.read(&Read::at(T0, rand)), Reply::Nil);
}

fn watch(s: &KvStore, keys: &[&str]) -> Vec<kv_store::machine::Watched> {
    let q = Query::Watch {
        keys: keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
    };
    let Reply::Array(ints) = s.read(&Read::at(T0, q)) else {
        panic!("WATCH answers an array");
    };
    let int = |r: &Reply| match r {
        Reply::Int(n) => *n,
        other => panic!("{other:?}"),
    };
    keys.iter()
        .zip(&ints[1..])
        .map(|(k, p)| kv_store::machine::Watched {
            key: k.as_bytes().to_vec(),
            since: int(&ints[0]) as u64,
            present: int(p) == 1,
        })
        .collect()
}

fn exec(watched: Vec<kv_store::machine::Watched>, ops: Vec<kv_store::machine::TxOp>) -> Command {
    Command::Exec { watched, ops }
}

/// A transaction is one entry: all of it runs, in order, with a runtime error in one not
/// stopping the others; reads inside see the writes before them.
#[test]
fn a_transaction_runs_whole_in_one_entry() {
    use kv_store::machine::TxOp;
    let mut s = KvStore::new();
    s.write(1, w(set("s", "text")));
    let ops = vec![
        TxOp::Write(Command::incr_by("a", 5)),
        TxOp::Write(Command::incr_by("s", 1)),
        TxOp::Read(Query::get("a")),
        TxOp::Write(Command::RegisterSession),
    ];
    assert_eq!(
        s.write(2, w(exec(vec![], ops))),
        Reply::Array(vec![
            Reply::Int(5),
            Reply::Error(KvError::NotAnInteger),
            Reply::Bulk("5".into()),
            Reply::Error(KvError::NotInTransaction),
        ])
    );
    // Not in a session: its reads may differ between replicas, and a session keeps replies.
    let in_session = Write {
        session: Some(Session { client: 1, seq: 1 }),
        time_ms: T0,
        command: exec(vec![], vec![]),
    };
    assert_eq!(s.write(3, in_session), Reply::Error(KvError::NotInSession));
}

/// WATCH: any change to a watched key after it was read (a write, even of the same value; a
/// deadline; a removal; an expiry; creation, and creation then removal) makes EXEC run
/// nothing; no change, or a change to another key, lets it run.
#[test]
fn a_watched_change_of_any_kind_stops_exec() {
    use kv_store::machine::{KeyWrite, TxOp};
    let set_x = || vec![TxOp::Write(set("x", "ran"))];
    let cases: Vec<(&str, Vec<Command>, bool)> = vec![
        ("nothing", vec![], true),
        ("another key", vec![set("other", "1")], true),
        ("the same value", vec![set("k", "v")], false),
        (
            "a deadline",
            vec![
                Command::Key(KeyWrite::Persist { key: "k".into() }),
                set_px("k", 100_000),
            ],
            false,
        ),
        ("a removal", vec![Command::del(vec!["k".into()])], false),
        ("a failed write", vec![Command::incr_by("k", 1)], true),
    ];
    for (what, between, runs) in cases {
        let mut s = KvStore::new();
        s.write(1, w(set("k", "v")));
        let watched = watch(&s, &["k"]);
        for (i, c) in between.into_iter().enumerate() {
            s.write(2 + i as u64, w(c));
        }
        let r = s.write(10, w(exec(watched, set_x())));
        assert_eq!(r != Reply::NilArray, runs, "{what}: {r:?}");
        assert_eq!(get(&s, "x") != Reply::Nil, runs, "{what}");
    }
    // A key absent when watched, created and removed again before EXEC, has changed.
    let mut s = KvStore::new();
    let watched = watch(&s, &["k"]);
    s.write(1, w(set("k", "v")));
    s.write(2, w(Command::del(vec!["k".into()])));
    assert_eq!(s.write(3, w(exec(watched, set_x()))), Reply::NilArray);
    // One that expired between WATCH and EXEC has changed too.
    let mut s = KvStore::new();
    s.write(1, at(T0, set_px("k", 10)));
    let watched = watch(&s, &["k"]);
    assert_eq!(
        s.write(2, at(T0 + 20, exec(watched, set_x()))),
        Reply::NilArray
    );
}

/// What WATCH compares with survives a snapshot: a change before the snapshot is still seen
/// after a restore, and so is a removal.
#[test]
fn watches_hold_across_a_snapshot() {
    use kv_store::machine::TxOp;
    let mut s = KvStore::new();
    let watched = watch(&s, &["k"]);
    s.write(1, w(set("k", "v")));
    s.write(2, w(Command::del(vec!["k".into()])));
    let mut t = restore(&image(&s)).unwrap();
    let ops = vec![TxOp::Write(set("x", "ran"))];
    assert_eq!(t.write(3, w(exec(watched, ops.clone()))), Reply::NilArray);
    // And a watch taken on the restored state runs when nothing changed.
    let fresh = watch(&t, &["k"]);
    assert_eq!(
        t.write(4, w(exec(fresh, ops))),
        Reply::Array(vec![Reply::Ok])
    );
}

/// Removals are remembered up to a bound; past it a watch older than what was forgotten
/// counts as changed: a spurious EXEC failure, never a missed change.
#[test]
fn forgotten_removals_make_old_watches_fail_never_pass() {
    use kv_store::machine::TxOp;
    let mut s = KvStore::new();
    let watched = watch(&s, &["absent"]);
    let n = kv_store::machine::REMOVALS_MAX as u64 + 10;
    for i in 0..n {
        s.write(2 * i + 1, w(set(&format!("r{i}"), "v")));
        s.write(
            2 * i + 2,
            w(Command::del(vec![format!("r{i}").into_bytes()])),
        );
    }
    let ops = vec![TxOp::Write(set("x", "ran"))];
    assert_eq!(
        s.write(3 * n, w(exec(watched, ops.clone()))),
        Reply::NilArray
    );
    let fresh = watch(&s, &["absent"]);
    assert_eq!(
        s.write(3 * n + 1, w(exec(fresh, ops))),
        Reply::Array(vec![Reply::Ok])
    );
}
