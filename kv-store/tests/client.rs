//! The client library against a scripted server, for what a real cluster rarely does on cue.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use kv_store::resp::{encode, parse_request, Limits, Value};
use kv_store::{Client, ClientError};

/// A one-node "cluster" that answers INFO (its `late`-th INFO, counting from 0, only after
/// `info_delay`) and GET.
fn scripted_node(late: usize, info_delay: Duration) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let infos = Arc::new(AtomicUsize::new(0));
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let infos = infos.clone();
            thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    match parse_request(&buf, &Limits::default()) {
                        Ok(Some((args, used))) => {
                            buf.drain(..used);
                            let reply = match args[0].to_ascii_uppercase().as_slice() {
                                b"INFO" => {
                                    if infos.fetch_add(1, Ordering::SeqCst) == late {
                                        thread::sleep(info_delay);
                                    }
                                    Value::Bulk(Some(
                                        b"node_id:1\r\nrole:leader\r\nleader:1\r\n".to_vec(),
                                    ))
                                }
                                b"GET" => Value::Bulk(Some(b"value".to_vec())),
                                _ => Value::Error("ERR unknown command".into()),
                            };
                            let mut out = Vec::new();
                            encode(&reply, &mut out);
                            if stream.write_all(&out).is_err() {
                                return;
                            }
                        }
                        Ok(None) => match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        },
                        Err(_) => return,
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_late_info_reply_is_never_taken_for_the_answer_to_a_read() {
    // The client first asks every node for its id (INFO 0), then asks its own connection who
    // leads (INFO 1), which answers after 800 ms, when the client has given up waiting (each
    // try waits a quarter of the timeout, 500 ms). The connection must not be reused.
    let addr = scripted_node(1, Duration::from_millis(800));
    let mut c = Client::new(vec![addr], Duration::from_secs(2));
    assert_eq!(c.get(b"k"), Ok(Some(b"value".to_vec())));
    assert_eq!(c.get(b"k"), Ok(Some(b"value".to_vec())));
}

#[test]
fn a_client_without_nodes_says_so() {
    let mut c = Client::new(Vec::new(), Duration::from_millis(100));
    assert!(
        matches!(c.get(b"k"), Err(ClientError::Unavailable(_, why)) if why.contains("no nodes"))
    );
}
