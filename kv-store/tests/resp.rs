//! RESP2 parsing and encoding, including hostile input.

use kv_store::resp::{
    encode, encode_for, parse_reply, parse_request, Framer, Limits, Protocol, ProtocolError, Value,
};
use proptest::prelude::*;

fn req(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    let items = parts
        .iter()
        .map(|p| Value::Bulk(Some(p.as_bytes().to_vec())))
        .collect();
    encode(&Value::Array(Some(items)), &mut out);
    out
}

fn args(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

#[test]
fn requests_parse_whole_and_incrementally() {
    let bytes = req(&["SET", "key", "va\r\nlue"]);
    let l = Limits::default();
    assert_eq!(
        parse_request(&bytes, &l),
        Ok(Some((args(&["SET", "key", "va\r\nlue"]), bytes.len())))
    );
    // Every strict prefix asks for more.
    for cut in 0..bytes.len() {
        assert_eq!(
            parse_request(&bytes[..cut], &l),
            Ok(None),
            "prefix of {cut} bytes"
        );
    }
    // Pipelined requests come out one at a time.
    let mut two = req(&["PING"]);
    two.extend(req(&["GET", "k"]));
    let (first, used) = parse_request(&two, &l).unwrap().unwrap();
    assert_eq!(first, args(&["PING"]));
    assert_eq!(
        parse_request(&two[used..], &l).unwrap().unwrap().0,
        args(&["GET", "k"])
    );
}

#[test]
fn inline_commands_typed_by_a_person_work() {
    let l = Limits::default();
    assert_eq!(
        parse_request(b"PING\r\n", &l),
        Ok(Some((args(&["PING"]), 6)))
    );
    assert_eq!(
        parse_request(b"set  a   b\n", &l),
        Ok(Some((args(&["set", "a", "b"]), 11)))
    );
    assert_eq!(parse_request(b"GET a", &l), Ok(None));
}

#[test]
fn replies_encode_as_redis_does() {
    let cases = [
        (Value::Simple("OK".into()), "+OK\r\n"),
        (Value::Error("ERR bad".into()), "-ERR bad\r\n"),
        (Value::Integer(-3), ":-3\r\n"),
        (Value::Bulk(None), "$-1\r\n"),
        (Value::Bulk(Some(b"hi".to_vec())), "$2\r\nhi\r\n"),
        (
            Value::Array(Some(vec![Value::Integer(1), Value::Bulk(None)])),
            "*2\r\n:1\r\n$-1\r\n",
        ),
    ];
    for (v, text) in cases {
        let mut out = Vec::new();
        encode(&v, &mut out);
        assert_eq!(out, text.as_bytes());
        assert_eq!(
            parse_reply(&out, &Limits::default()),
            Ok(Some((v, out.len())))
        );
    }
}

#[test]
fn resp3_replies_encode_as_redis_does_in_both_protocols() {
    let bulk = |s: &str| Value::Bulk(Some(s.as_bytes().to_vec()));
    let cases = [
        (Value::Bulk(None), "_\r\n", "$-1\r\n"),
        (Value::Array(None), "_\r\n", "*-1\r\n"),
        (
            Value::Map(vec![(bulk("f"), Value::Integer(1))]),
            "%1\r\n$1\r\nf\r\n:1\r\n",
            "*2\r\n$1\r\nf\r\n:1\r\n",
        ),
        (
            Value::Set(vec![bulk("a")]),
            "~1\r\n$1\r\na\r\n",
            "*1\r\n$1\r\na\r\n",
        ),
        (Value::Double("1.5".into()), ",1.5\r\n", "$3\r\n1.5\r\n"),
        (Value::Boolean(true), "#t\r\n", ":1\r\n"),
        (
            Value::Verbatim("txt".into(), b"hi".to_vec()),
            "=6\r\ntxt:hi\r\n",
            "$2\r\nhi\r\n",
        ),
        (
            Value::BigNumber("12345678901234567890".into()),
            "(12345678901234567890\r\n",
            "$20\r\n12345678901234567890\r\n",
        ),
    ];
    for (v, resp3, resp2) in cases {
        let mut out = Vec::new();
        encode_for(&v, Protocol::Resp3, &mut out);
        assert_eq!(String::from_utf8_lossy(&out), resp3, "{v:?}");
        let back = parse_reply(&out, &Limits::default()).unwrap().unwrap().0;
        let expected_back = match &v {
            Value::Bulk(None) | Value::Array(None) => Value::Null,
            other => other.clone(),
        };
        assert_eq!(back, expected_back);
        let mut out = Vec::new();
        encode_for(&v, Protocol::Resp2, &mut out);
        assert_eq!(String::from_utf8_lossy(&out), resp2, "{v:?}");
    }
}

/// Before, an attribute (`|`) was parsed at the depth of the value it describes, so a stream of
/// empty attributes recursed without bound and overflowed a client's stack.
#[test]
fn nested_attributes_count_toward_the_depth_limit() {
    let hostile = b"|0\r\n".repeat(100_000);
    assert!(parse_reply(&hostile, &Limits::default()).is_err());
    // One attribute before a value is skipped.
    assert_eq!(
        parse_reply(b"|1\r\n+a\r\n:1\r\n:7\r\n", &Limits::default()),
        Ok(Some((Value::Integer(7), 16)))
    );
}

#[test]
fn hostile_input_is_refused_without_allocating_what_it_claims() {
    let l = Limits {
        bulk_bytes_max: 1024,
        array_len_max: 16,
        inline_bytes_max: 64,
        depth_max: 4,
    };
    let bad: [(&[u8], &str); 8] = [
        (b"*1\r\n$99999999999\r\n", "invalid bulk length"),
        (b"*1\r\n$2000\r\n", "invalid bulk length"),
        (b"*99999999\r\n", "invalid multibulk length"),
        (b"*-5\r\n", "invalid multibulk length"),
        (b"*1\r\n$-7\r\n", "invalid bulk length"),
        (b"*1\r\n$x\r\n", "invalid number"),
        (b"*1\r\n:5\r\n", "expected an array of bulk strings"),
        (b"*1\r\n$2\r\nabXY", "expected CRLF after bulk string"),
    ];
    for (input, why) in bad {
        assert_eq!(
            parse_request(input, &l),
            Err(ProtocolError(why.into())),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let nested = b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n$1\r\na\r\n";
    assert_eq!(
        parse_reply(nested, &l),
        Err(ProtocolError("nested too deeply".into()))
    );
    let long_inline = vec![b'a'; 100];
    assert_eq!(
        parse_request(&long_inline, &l),
        Err(ProtocolError("too big inline request".into()))
    );
    assert_eq!(
        parse_request(b"*1\r\n$1\r\n", &l),
        Ok(None),
        "a truncated frame waits for more"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let l = Limits { bulk_bytes_max: 1 << 16, array_len_max: 1 << 10, inline_bytes_max: 1 << 10, depth_max: 4 };
        let _ = parse_request(&bytes, &l);
        let _ = parse_reply(&bytes, &l);
        let mut prefixed = b"*".to_vec();
        prefixed.extend(&bytes);
        let _ = parse_request(&prefixed, &l);
    }

    #[test]
    fn any_request_round_trips(parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8)) {
        let mut out = Vec::new();
        encode(&Value::Array(Some(parts.iter().map(|p| Value::Bulk(Some(p.clone()))).collect())), &mut out);
        prop_assert_eq!(parse_request(&out, &Limits::default()), Ok(Some((parts, out.len()))));
    }

    /// However a request is cut into reads, the framer finds its end only once the last byte
    /// is there, and a following request does not confuse it.
    #[test]
    fn the_framer_finds_the_end_of_a_request_however_it_arrives(
        parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8),
        cuts in proptest::collection::vec(1usize..16, 1..64),
    ) {
        let mut out = Vec::new();
        encode(&Value::Array(Some(parts.iter().map(|p| Value::Bulk(Some(p.clone()))).collect())), &mut out);
        let len = out.len();
        out.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let l = Limits::default();
        let mut f = Framer::new();
        let mut have = 0;
        let mut cuts = cuts.into_iter().cycle();
        loop {
            have = (have + cuts.next().unwrap()).min(out.len());
            match f.complete(&out[..have], &l) {
                Ok(Some(n)) => {
                    prop_assert_eq!(n, len);
                    prop_assert!(have >= len);
                    break;
                }
                Ok(None) => prop_assert!(have < len),
                Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
            }
        }
        prop_assert_eq!(f.complete(&out[len..], &l), Ok(Some(out.len() - len)));
    }

    #[test]
    fn the_framer_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let l = Limits { bulk_bytes_max: 1 << 16, array_len_max: 1 << 10, inline_bytes_max: 1 << 10, depth_max: 4 };
        for input in [bytes.clone(), [b"*".as_slice(), &bytes].concat(), [b"*1\r\n$".as_slice(), &bytes].concat()] {
            let mut f = Framer::new();
            for end in 0..=input.len() {
                match f.complete(&input[..end], &l) {
                    Ok(Some(n)) => {
                        prop_assert!(n <= end);
                        break;
                    }
                    Ok(None) => {}
                    Err(_) => break,
                }
            }
        }
    }
}

#[test]
fn the_framer_refuses_a_limit_breaking_header_before_its_bytes_arrive() {
    let l = Limits {
        bulk_bytes_max: 1 << 10,
        array_len_max: 16,
        inline_bytes_max: 64,
        depth_max: 4,
    };
    let cases: [(&[u8], &str); 4] = [
        (b"*2\r\n$100000\r\n", "invalid bulk length"),
        (b"*17\r\n", "invalid multibulk length"),
        (b"*1\r\n*1\r\n", "expected an array of bulk strings"),
        (b"*1\r\n$12345678901234567890123456789012345678901234567890123456789012345678901234567890", "line too long"),
    ];
    for (input, why) in cases {
        assert_eq!(
            Framer::new().complete(input, &l),
            Err(ProtocolError(why.into())),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    assert_eq!(Framer::new().complete(b"*-1\r\n", &l), Ok(Some(5)));
    assert_eq!(Framer::new().complete(b"PING\r\nGET", &l), Ok(Some(6)));
}
