//! The GDB client against scripted peers on loopback: behaviours real
//! stubs show only sometimes (run-length replies, retransmissions,
//! no-ack mode, partial reads, tiny packet sizes) and hostile ones (endless
//! packets, decompression bombs, bad checksums, random bytes).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hilt_debug::gdb::packet::{frame, Decoder, Event};
use hilt_debug::gdb::{GdbClient, GdbConfig, GdbError, Released};

/// What the scripted peer does with one packet from the client.
enum Act {
    /// Write these bytes.
    Send(Vec<u8>),
    /// Close the connection.
    Close,
}

/// `+` then the framed reply.
fn ack_reply(payload: &[u8]) -> Act {
    let mut out = b"+".to_vec();
    out.extend_from_slice(&frame(payload));
    Act::Send(out)
}

/// Starts a one-connection peer; returns its address and a handle that
/// yields every event it decoded from the client.
fn peer(script: impl FnMut(&[u8]) -> Act + Send + 'static) -> (String, JoinHandle<Vec<Event>>) {
    peer_with(Vec::new(), script)
}

/// [`peer`] that writes `greeting` as soon as the client connects (QEMU
/// sends a stop reply then, when the guest was running).
fn peer_with(
    greeting: Vec<u8>,
    mut script: impl FnMut(&[u8]) -> Act + Send + 'static,
) -> (String, JoinHandle<Vec<Event>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let handle = std::thread::spawn(move || {
        let mut events = Vec::new();
        let Ok((mut stream, _)) = listener.accept() else {
            return events;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        if stream.write_all(&greeting).is_err() {
            return events;
        }
        let mut decoder = Decoder::new(1 << 20);
        let mut buf = [0u8; 4096];
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => return events,
                Ok(n) => n,
            };
            for &b in &buf[..n] {
                let Some(event) = decoder.push(b) else {
                    continue;
                };
                events.push(event.clone());
                if let Event::Packet(p) = event {
                    match script(&p) {
                        Act::Send(bytes) => {
                            if stream.write_all(&bytes).is_err() {
                                return events;
                            }
                        }
                        Act::Close => return events,
                    }
                }
            }
        }
    });
    (addr, handle)
}

fn quick() -> GdbConfig {
    GdbConfig {
        connect_timeout: Duration::from_secs(2),
        reply_timeout: Duration::from_millis(500),
        ..GdbConfig::default()
    }
}

#[test]
fn run_length_replies_are_expanded() {
    let (addr, peer) = peer(|p| match p {
        b"m1000,10" => ack_reply(b"0*<"), // '0' and 31 more: 16 zero bytes
        b"m2000,4" => ack_reply(b"a* b* "), // aaaa bbbb
        _ => ack_reply(b""),
    });
    let mut gdb = GdbClient::connect_raw(&addr, quick()).expect("connect");
    assert_eq!(gdb.read_memory(0x1000, 16).expect("m"), vec![0u8; 16]);
    assert_eq!(
        gdb.read_memory(0x2000, 4).expect("m"),
        vec![0xaa, 0xaa, 0xbb, 0xbb]
    );
    drop(gdb);
    let _ = peer.join();
}

#[test]
fn a_nack_makes_the_client_retransmit() {
    let mut first = true;
    let (addr, peer) = peer(move |_| {
        if std::mem::take(&mut first) {
            Act::Send(b"-".to_vec())
        } else {
            ack_reply(b"S05")
        }
    });
    let mut gdb = GdbClient::connect_raw(&addr, quick()).expect("connect");
    assert_eq!(gdb.halt_reason().expect("?").signal(), Some(5));
    assert!(gdb.transcript().render().contains("retransmission"));
    drop(gdb);
    let events = peer.join().expect("peer");
    let packets = events
        .iter()
        .filter(|e| **e == Event::Packet(b"?".to_vec()))
        .count();
    assert_eq!(packets, 2, "{events:?}");
}

#[test]
fn a_peer_that_always_nacks_gets_a_clear_error() {
    let (addr, peer) = peer(|_| Act::Send(b"-".to_vec()));
    let mut gdb = GdbClient::connect_raw(&addr, quick()).expect("connect");
    match gdb.halt_reason() {
        Err(GdbError::Retransmits { attempts: 3, .. }) => {}
        other => panic!("expected Retransmits, got {other:?}"),
    }
    drop(gdb);
    let _ = peer.join();
}

#[test]
fn no_ack_mode_stops_acknowledgements_both_ways() {
    let mut no_ack = false;
    let (addr, peer) = peer(move |p| {
        let reply: &[u8] = match p {
            b"qSupported:swbreak+;hwbreak+" => b"PacketSize=100;QStartNoAckMode+",
            b"QStartNoAckMode" => {
                no_ack = true;
                return ack_reply(b"OK");
            }
            b"?" => b"T05thread:01;",
            _ => b"",
        };
        if no_ack {
            Act::Send(frame(reply))
        } else {
            ack_reply(reply)
        }
    });
    let mut gdb = GdbClient::connect(&addr, quick()).expect("connect");
    assert!(!gdb.ack_mode());
    assert_eq!(gdb.packet_size(), 0x100);
    assert_eq!(gdb.halt_reason().expect("?").signal(), Some(5));
    assert!(!gdb.target_was_running());
    drop(gdb);
    let events = peer.join().expect("peer");
    // The client acknowledged the qSupported reply and the OK, and nothing
    // after that; dropped, it detached.
    let acks = events.iter().filter(|e| **e == Event::Ack).count();
    assert_eq!(acks, 2, "{events:?}");
    let n = events.len();
    assert_eq!(
        events[n - 2..],
        [Event::Packet(b"?".to_vec()), Event::Packet(b"D".to_vec())]
    );
}

/// QEMU's behaviour with a running guest: a stop reply (`T02`, SIGINT)
/// as soon as the client connects, before any request. The old client
/// took it for the answer to `qSupported` and stayed one reply behind.
#[test]
fn a_stop_reply_on_connect_is_not_taken_for_the_first_reply() {
    let (addr, peer) = peer_with(frame(b"T02thread:01;"), |p| match p {
        b"qSupported:swbreak+;hwbreak+" => ack_reply(b"PacketSize=100;qXfer:features:read+"),
        b"m1000,4" => ack_reply(b"deadbeef"),
        // A stop reply the stub sends on its own in the middle of a
        // session, before the reply: skipped too.
        b"m2000,2" => {
            let mut out = b"+".to_vec();
            out.extend_from_slice(&frame(b"S05"));
            out.extend_from_slice(&frame(b"cafe"));
            Act::Send(out)
        }
        b"?" => ack_reply(b"T05thread:01;"),
        b"D" => ack_reply(b"OK"),
        _ => ack_reply(b""),
    });
    let mut gdb = GdbClient::connect(&addr, quick()).expect("connect");
    assert_eq!(gdb.packet_size(), 0x100, "{:?}", gdb.features());
    assert!(gdb.supports("qXfer:features:read"));
    assert!(gdb.target_was_running());
    assert_eq!(
        gdb.read_memory(0x1000, 4).expect("m"),
        [0xde, 0xad, 0xbe, 0xef]
    );
    assert_eq!(gdb.read_memory(0x2000, 2).expect("m"), [0xca, 0xfe]);
    assert_eq!(gdb.halt_reason().expect("?").signal(), Some(5));
    let (stops, count) = gdb.unsolicited_stops();
    assert_eq!(count, 2);
    assert_eq!(stops[0].signal(), Some(2));
    assert_eq!(stops[1].signal(), Some(5));
    assert_eq!(gdb.release().expect("release"), Released::Detached);
    assert!(gdb.read_memory(0x1000, 4).is_err(), "released client reads");
    drop(gdb);
    let events = peer.join().expect("peer");
    let packets: Vec<&Event> = events.iter().filter(|e| **e != Event::Ack).collect();
    assert_eq!(packets.last(), Some(&&Event::Packet(b"D".to_vec())));
    // Every packet of the peer was acknowledged, the connect-time stop
    // reply included.
    let acks = events.iter().filter(|e| **e == Event::Ack).count();
    assert_eq!(acks, 7, "{events:?}");
}

/// No-ack mode with `O` console output and stray stop replies between
/// the replies, and a stub that refuses `D`: the target, found running,
/// is resumed with `c`.
#[test]
fn no_ack_mode_console_output_and_a_refused_detach() {
    let mut no_ack = false;
    let (addr, peer) = peer_with(frame(b"T02thread:01;"), move |p| {
        let hello = frame(b"O68656c6c6f0a"); // "hello\n"
        let parts: Vec<Vec<u8>> = match p {
            b"qSupported:swbreak+;hwbreak+" => {
                vec![frame(b"PacketSize=100;QStartNoAckMode+")]
            }
            b"QStartNoAckMode" => {
                no_ack = true;
                return ack_reply(b"OK");
            }
            b"m1000,4" => vec![hello.clone(), frame(b"S05"), frame(b"01020304")],
            b"g" => vec![hello.clone(), frame(b"00000000")],
            b"?" => vec![hello.clone(), frame(b"T05thread:01;")],
            b"qRcmd,6869" => vec![frame(b"O6869"), frame(b"T05"), frame(b"O0a"), frame(b"OK")],
            b"D" => vec![frame(b"E01")],
            _ => vec![frame(b"")],
        };
        let mut out = if no_ack { Vec::new() } else { b"+".to_vec() };
        for part in parts {
            out.extend_from_slice(&part);
        }
        Act::Send(out)
    });
    let mut gdb = GdbClient::connect(&addr, quick()).expect("connect");
    assert!(!gdb.ack_mode());
    assert!(gdb.target_was_running());
    assert_eq!(gdb.read_memory(0x1000, 4).expect("m"), [1, 2, 3, 4]);
    assert_eq!(gdb.read_registers().expect("g").u32_le(0), Some(0));
    assert_eq!(gdb.halt_reason().expect("?").signal(), Some(5));
    assert_eq!(gdb.monitor("hi").expect("qRcmd"), "hi\n");
    assert_eq!(gdb.console_output(), b"hello\nhello\nhello\n");
    assert_eq!(gdb.unsolicited_stops().1, 3);
    assert_eq!(gdb.release().expect("release"), Released::Resumed);
    drop(gdb);
    let events = peer.join().expect("peer");
    let n = events.len();
    assert_eq!(
        events[n - 2..],
        [Event::Packet(b"D".to_vec()), Event::Packet(b"c".to_vec())],
        "{events:?}"
    );
    // Acks for the connect-time stop reply, qSupported's reply and OK.
    let acks = events.iter().filter(|e| **e == Event::Ack).count();
    assert_eq!(acks, 3, "{events:?}");
}

#[test]
fn reads_are_chunked_to_the_packet_size_and_partial_replies_continue() {
    let (addr, peer) = peer(|p| {
        let text = String::from_utf8_lossy(p).to_string();
        if let Some(q) = text.strip_prefix("qSupported") {
            let _ = q;
            return ack_reply(b"PacketSize=40");
        }
        // m<addr>,<len>: answer at most 7 bytes, each byte = low address byte.
        if let Some(args) = text.strip_prefix('m') {
            let (a, l) = args.split_once(',').expect("m addr,len");
            let a = u64::from_str_radix(a, 16).expect("addr");
            let l = usize::from_str_radix(l, 16).expect("len");
            assert!(l <= (0x40 - 4) / 2, "chunk of {l} bytes exceeds PacketSize");
            let hex: String = (0..l.min(7))
                .map(|i| format!("{:02x}", (a as usize + i) as u8))
                .collect();
            return ack_reply(hex.as_bytes());
        }
        ack_reply(b"")
    });
    let mut gdb = GdbClient::connect(&addr, quick()).expect("connect");
    assert_eq!(gdb.packet_size(), 0x40);
    let data = gdb.read_memory(0x100, 100).expect("m");
    let want: Vec<u8> = (0..100).map(|i| i as u8).collect();
    assert_eq!(data, want);
    drop(gdb);
    let _ = peer.join();
}

#[test]
fn error_replies_are_typed() {
    let (addr, peer) = peer(|p| match p.first() {
        Some(b'm') if p.starts_with(b"m0,") => ack_reply(b"E01"),
        Some(b'm') => ack_reply(b"E.flash is locked"),
        Some(b'M') => ack_reply(b"E02"),
        Some(b'q') if p.starts_with(b"qRcmd") => {
            // Output, then an error.
            let mut out = b"+".to_vec();
            out.extend_from_slice(&frame(b"O6c6f636b65640a")); // "locked\n"
            out.extend_from_slice(&frame(b"E03"));
            Act::Send(out)
        }
        _ => ack_reply(b""),
    });
    let mut gdb = GdbClient::connect_raw(&addr, quick()).expect("connect");
    let err = gdb.read_memory(0, 4).expect_err("E01");
    assert!(
        matches!(
            err,
            GdbError::MemoryReadRefused {
                code: 1,
                addr: 0,
                len: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), Some(1));
    assert_eq!(
        err.to_string(),
        format!("{addr} refused to read 4 bytes at 0x0: error 0x01")
    );
    let err = gdb.read_memory(0x10, 4).expect_err("E.text");
    assert!(err.to_string().ends_with("(flash is locked)"), "{err}");
    let err = gdb.write_memory(0x10, &[1]).expect_err("E02");
    assert!(
        matches!(err, GdbError::MemoryWriteRefused { code: 2, .. }),
        "{err:?}"
    );
    match gdb.monitor("rdp") {
        Err(GdbError::MonitorRefused {
            code: 3, output, ..
        }) => assert_eq!(output, "locked\n"),
        other => panic!("expected MonitorRefused, got {other:?}"),
    }
    assert!(matches!(
        gdb.read_registers(),
        Err(GdbError::Unsupported { .. })
    ));
    drop(gdb);
    let _ = peer.join();
}

#[test]
fn monitor_output_and_x_fallback() {
    let (addr, peer) = peer(|p| match p.first() {
        Some(b'q') => {
            let mut out = b"+".to_vec();
            out.extend_from_slice(&frame(b"O68656c6c6f20")); // "hello "
            out.extend_from_slice(&frame(b"O776f726c640a")); // "world\n"
            out.extend_from_slice(&frame(b"OK"));
            Act::Send(out)
        }
        Some(b'X') => ack_reply(b""),
        Some(b'M') => ack_reply(b"OK"),
        _ => ack_reply(b""),
    });
    let mut gdb = GdbClient::connect_raw(&addr, quick()).expect("connect");
    assert_eq!(gdb.monitor("hello").expect("qRcmd"), "hello world\n");
    gdb.write_memory_binary(0x20, b"$#}*").expect("X then M");
    drop(gdb);
    let events = peer.join().expect("peer");
    assert!(events.contains(&Event::Packet(b"qRcmd,68656c6c6f".to_vec())));
    assert!(
        events.contains(&Event::Packet(b"X20,4:}\x04}\x03}]}\x0a".to_vec())),
        "{events:?}"
    );
    assert!(events.contains(&Event::Packet(b"M20,4:24237d2a".to_vec())));
}

/// Runs `f` and checks it ended within `limit`.
fn bounded<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    assert!(started.elapsed() < limit, "took {:?}", started.elapsed());
    out
}

#[test]
fn a_packet_that_never_ends_times_out_without_growing() {
    let (addr, peer) = peer(|_| {
        // '+', '$', then 300 KiB of payload and no '#'.
        let mut out = b"+$".to_vec();
        out.extend(std::iter::repeat_n(b'a', 300 * 1024));
        Act::Send(out)
    });
    let config = GdbConfig {
        max_packet: 4096,
        ..quick()
    };
    let mut gdb = GdbClient::connect_raw(&addr, config).expect("connect");
    let err = bounded(Duration::from_secs(3), || {
        gdb.halt_reason().expect_err("timeout")
    });
    match err {
        GdbError::Timeout { waiting_for, .. } => {
            assert!(waiting_for.contains("never finished"), "{waiting_for}")
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    // A late reply could pass for the next one: the client refuses to go on.
    match gdb.read_registers() {
        Err(GdbError::Lost { reason, .. }) => assert!(reason.contains("reconnect"), "{reason}"),
        other => panic!("expected Lost after a timeout, got {other:?}"),
    }
    drop(gdb);
    let _ = peer.join();
}

#[test]
fn oversize_packets_and_decompression_bombs_are_refused() {
    let (addr, peer) = peer(|p| {
        if p == b"g" {
            let mut big = vec![b'0'; 10_000];
            big.push(b'1');
            ack_reply(&big)
        } else {
            // 2000 runs of 98 bytes: 6 KB on the wire, 196 KB expanded.
            ack_reply(&b"0*~".repeat(2000))
        }
    });
    let config = GdbConfig {
        max_packet: 8192,
        max_reply: 64 * 1024,
        ..quick()
    };
    let mut gdb = GdbClient::connect_raw(&addr, config).expect("connect");
    assert!(matches!(
        gdb.read_registers(),
        Err(GdbError::PacketTooLarge { limit: 8192, .. })
    ));
    match gdb.halt_reason() {
        Err(GdbError::Protocol { detail, .. }) => {
            assert!(detail.contains("longer than 65536"), "{detail}")
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
    drop(gdb);
    let _ = peer.join();
}

#[test]
fn bad_checksums_are_nacked_then_refused() {
    let (addr, peer) = peer(|p| {
        if p == b"-" {
            return Act::Send(Vec::new());
        }
        Act::Send(b"+$S05#00".to_vec())
    });
    let mut gdb = GdbClient::connect_raw(&addr, quick()).expect("connect");
    match bounded(Duration::from_secs(3), || gdb.halt_reason()) {
        Err(GdbError::Protocol { detail, .. })
        | Err(GdbError::Timeout {
            waiting_for: detail,
            ..
        }) => {
            assert!(
                detail.contains("checksum") || detail.contains("reply"),
                "{detail}"
            )
        }
        other => panic!("expected an error, got {other:?}"),
    }
    drop(gdb);
    let events = peer.join().expect("peer");
    assert!(
        events.contains(&Event::Nack),
        "client never asked again: {events:?}"
    );
}

#[test]
fn a_peer_that_hangs_up_mid_packet_is_reported_lost() {
    let (addr, peer) = peer(|_| Act::Close);
    let mut gdb = GdbClient::connect_raw(&addr, quick()).expect("connect");
    let err = gdb.halt_reason().expect_err("lost");
    assert!(matches!(err, GdbError::Lost { .. }), "{err:?}");
    // Later calls fail the same way at once.
    assert!(matches!(gdb.read_registers(), Err(GdbError::Lost { .. })));
    let _ = peer.join();
}

#[test]
fn nobody_listening_is_a_connect_error_naming_the_address() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let addr = format!("127.0.0.1:{port}");
    let err = GdbClient::connect(&addr, quick()).expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains(&addr) && text.contains("is the GDB server running"),
        "{text}"
    );
}

/// xorshift64*: reproducible randomness without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_peers_never_panic_the_client() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for round in 0..150 {
        let mut bytes = Vec::new();
        let pieces = 1 + rng.below(6);
        for _ in 0..pieces {
            match rng.below(4) {
                0 => bytes.extend((0..rng.below(200)).map(|_| rng.next() as u8)),
                1 => {
                    let payload: Vec<u8> = (0..rng.below(60))
                        .map(|_| b"0123456789abcdefE*}$#+-OKST;:x"[rng.below(30)])
                        .collect();
                    bytes.push(b'+');
                    bytes.extend(frame(&payload));
                }
                2 => bytes.extend_from_slice(b"+$E0"),
                _ => bytes.extend_from_slice(&frame(b"O41")),
            }
        }
        let (addr, peer) = peer(move |_| Act::Send(bytes.clone()));
        let mut gdb = GdbClient::connect_raw(
            &addr,
            GdbConfig {
                reply_timeout: Duration::from_millis(100),
                max_packet: 64,
                ..quick()
            },
        )
        .expect("connect");
        let _ = match round % 5 {
            0 => gdb.read_memory(0, 64).map(|_| ()),
            1 => gdb.read_registers().map(|_| ()),
            2 => gdb
                .monitor_with_timeout("x", Duration::from_millis(100))
                .map(|_| ()),
            3 => gdb.halt_reason().map(|_| ()),
            _ => gdb.write_memory_binary(0, b"abc").map(|_| ()),
        };
        drop(gdb);
        let _ = peer.join();
    }
}
