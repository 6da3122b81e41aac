//! Sync protocol version 3 (issue 9's small-sync rows): fewer bytes around the documents (a
//! sparse `Buckets` frame from a side with few documents, varint lengths in `Docs`), an older
//! peer refused with a clear reason, and a daemon's edit stored by the other daemon.

use std::time::{Duration, Instant};

use kith::net::{self, NetConfig, Relay};

use crate::sync::{pair, Daemon, Dev};

/// Dials `to`'s daemon as the trusted device `from` with the given ALPN and returns how the
/// connection ended (its close, as text).
fn dial_with_alpn(from: &Dev, to: &Dev, alpn: &'static [u8]) -> String {
    let key = net::device_key(&from.env.home()).expect("device key");
    let peer = net::parse_id(&to.id()).expect("peer id");
    let addr: std::net::SocketAddr = to.bind.parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let cfg = NetConfig {
            relay: Relay::Off,
            mdns: false,
            bind: Some("127.0.0.1:0".parse().unwrap()),
        };
        let ep = net::bind(&cfg, key, vec![]).await.expect("bind");
        let target = iroh::EndpointAddr::new(peer).with_ip_addr(addr);
        let out = match tokio::time::timeout(Duration::from_secs(10), ep.connect(target, alpn))
            .await
            .expect("the daemon answers within 10 s")
        {
            Ok(conn) => {
                let closed = tokio::time::timeout(Duration::from_secs(10), conn.closed())
                    .await
                    .expect("the daemon closes the connection at once");
                format!("{closed:?}")
            }
            Err(e) => format!("{e:?}"),
        };
        ep.close().await;
        out
    })
}

#[test]
fn an_older_sync_protocol_is_refused_with_code_2_and_a_reason() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    pair(&a, &b);
    let daemon = Daemon::start(&a);
    for (alpn, name) in [
        (&b"kith/sync/2"[..], "kith/sync/2"),
        (&b"kith/sync/1"[..], "kith/sync/1"),
    ] {
        let end = dial_with_alpn(&b, &a, alpn);
        assert!(end.contains("ApplicationClosed"), "{name}: {end}");
        assert!(end.contains("error_code: 2"), "{name}: {end}");
        assert!(
            end.contains(&format!(
                "this device speaks kith/sync/3 and the other one {name}: upgrade kith on the older device"
            )),
            "{name}: {end}"
        );
    }
    // The current protocol still syncs with the same daemon.
    let r = b.json(&["sync"]);
    assert_eq!(r[0]["ok"], true, "{r}");
    drop(daemon);
}

/// A vCard file of `n` people with a note each.
fn cards(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person{i} Example\r\nN:Example;Person{i};;;\r\n\
                 EMAIL:person{i}@example.org\r\nNOTE:met at conference {i}\r\nEND:VCARD\r\n"
            )
        })
        .collect()
}

#[test]
fn a_first_sync_from_an_empty_device_sends_it_almost_nothing_but_documents() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    pair(&a, &b);
    let file = a.env.root().join("people.vcf");
    std::fs::write(&file, cards(200)).unwrap();
    a.ok(&["import", file.to_str().unwrap()]);
    let daemon = Daemon::start(&a);
    let r = b.json(&["sync"]);
    let r = &r[0];
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["docs_received"], 400, "{r}");
    // B holds only the membership document: Hello (46), sparse Buckets (38 + 16 per bucket in
    // use), a short DocList and Idle frames, plus the membership document's own Automerge
    // exchange when the two copies differ. Version 2 sent 4,231 bytes here (4,101 of them the
    // dense Buckets frame).
    let sent = r["bytes_sent"].as_u64().unwrap();
    assert!(sent < 1000, "B sent {sent} bytes: {r}");
    assert_eq!(b.count(), 200);
    assert_eq!(a.state(), b.state());
    // Nothing changed: one round trip of two Hello frames, 92 bytes.
    let again = b.json(&["sync"]);
    let r = &again[0];
    assert_eq!(r["round_trips"], 1, "{r}");
    assert_eq!(
        r["bytes_sent"].as_u64().unwrap() + r["bytes_received"].as_u64().unwrap(),
        92,
        "{r}"
    );
    drop(daemon);
}

#[test]
fn an_edit_on_one_daemon_is_stored_by_the_other_without_waiting_for_a_poll_or_a_batch() {
    let a = Dev::new("laptop");
    let b = Dev::new("desktop");
    pair(&a, &b);
    let da = Daemon::start(&a);
    let db = Daemon::start(&b);
    // Let the first pushes (each daemon registered itself) settle.
    std::thread::sleep(Duration::from_millis(1500));
    for i in 0..3 {
        let name = format!("Pushed Person {i}");
        let t = Instant::now();
        a.add(&name, &[]);
        loop {
            let found = b.run(&["search", &name]);
            if found.code == 0 {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{name} did not reach the other daemon"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert_eq!(b.count(), 3);
    drop((da, db));
}
