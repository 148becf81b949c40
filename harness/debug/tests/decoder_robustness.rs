//! Several thousand random and mutated byte streams through the packet
//! decoder and the payload decoders (the same work as the cargo-fuzz
//! target `gdb_packet_decode`, for machines without nightly/cargo-fuzz).
//! Nothing may panic, and no limit may be exceeded.

use hilt_debug::gdb::packet::{
    escape_binary, expand_rle, frame, from_hex, from_hex_optional, parse_error_reply,
    unescape_binary, Decoder, Event,
};
use hilt_debug::gdb::StopReply;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

const ALPHABET: &[u8] = b"0123456789abcdefABCDEFxX$#%}*+-OKESTWN;:,.\x03 ~!";

/// A plausible payload: stop replies, hex, run-length runs, escapes.
fn payload(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(80);
    match rng.below(5) {
        0 => (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect(),
        1 => (0..len).map(|_| rng.byte()).collect(),
        2 => escape_binary(&(0..len).map(|_| rng.byte()).collect::<Vec<_>>()),
        3 => {
            let mut p = Vec::new();
            for _ in 0..rng.below(10) {
                p.push(b"0f"[rng.below(2)]);
                p.push(b'*');
                p.push(32 + rng.below(95) as u8);
            }
            p
        }
        _ => format!(
            "T{:02x}thread:p{:x}.{:x};",
            rng.byte(),
            rng.below(99),
            rng.below(9)
        )
        .into_bytes(),
    }
}

fn mutate(rng: &mut Rng, stream: &mut Vec<u8>) {
    for _ in 0..rng.below(8) {
        if stream.is_empty() {
            stream.push(rng.byte());
            continue;
        }
        let at = rng.below(stream.len());
        match rng.below(6) {
            0 => stream[at] ^= 1 << rng.below(8),
            1 => stream.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
            2 => {
                stream.remove(at);
            }
            3 => {
                let end = (at + rng.below(16)).min(stream.len());
                let copy = stream[at..end].to_vec();
                stream.splice(at..at, copy);
            }
            4 => stream.truncate(at),
            _ => stream[at] = rng.byte(),
        }
    }
}

/// Everything the client does with a received payload.
fn decode_payload(raw: &[u8], limit: usize) {
    if let Ok(expanded) = expand_rle(raw, limit) {
        assert!(expanded.len() <= limit);
        let _ = unescape_binary(&expanded);
        let _ = from_hex(&expanded);
        let _ = from_hex_optional(&expanded);
        let _ = parse_error_reply(&expanded);
        let _ = StopReply::parse(&expanded);
    }
}

#[test]
fn thousands_of_random_and_mutated_streams() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut packets_seen = 0usize;
    for round in 0..6000 {
        let limit = [1, 7, 64, 400, 4096][rng.below(5)];
        let mut stream = Vec::new();
        let mut originals = Vec::new();
        let mut frameable = true;
        for _ in 0..1 + rng.below(5) {
            if rng.below(4) == 0 {
                stream.push(b"+-\x03x"[rng.below(4)]);
            }
            let p = payload(&mut rng);
            // Only payloads without a bare '$' or '#' survive framing.
            if p.contains(&b'$') || p.contains(&b'#') {
                frameable = false;
            }
            originals.push(p.clone());
            if rng.below(3) == 0 {
                stream.push(b'%');
                stream.extend_from_slice(&frame(&p)[1..]);
            } else {
                stream.extend_from_slice(&frame(&p));
            }
        }
        let mutated = round % 3 != 0;
        if mutated {
            mutate(&mut rng, &mut stream);
        }
        if round % 50 == 0 {
            stream = (0..rng.below(3000)).map(|_| rng.byte()).collect();
        }
        let clean = !mutated && frameable && round % 50 != 0;
        let mut decoder = Decoder::new(limit);
        for &b in &stream {
            if let Some(event) = decoder.push(b) {
                match event {
                    Event::Packet(p) | Event::Notification(p) => {
                        assert!(p.len() <= limit, "payload over the limit");
                        packets_seen += 1;
                        if clean {
                            assert!(originals.contains(&p), "decoded a packet never sent");
                        }
                        decode_payload(&p, limit * 4);
                    }
                    Event::Oversize { limit: l } => assert_eq!(l, limit),
                    Event::BadChecksum { .. } | Event::BadChecksumDigits => {
                        assert!(!clean, "a clean stream had a checksum error")
                    }
                    _ => {}
                }
            }
        }
        // Any raw stream as a payload, too.
        decode_payload(&stream, 1 << 16);
    }
    assert!(packets_seen > 3000, "only {packets_seen} packets decoded");
}

#[test]
fn unmutated_frames_round_trip() {
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let data: Vec<u8> = (0..rng.below(300)).map(|_| rng.byte()).collect();
        let escaped = escape_binary(&data);
        let mut d = Decoder::new(1024);
        let events: Vec<Event> = frame(&escaped).iter().filter_map(|b| d.push(*b)).collect();
        assert_eq!(events.len(), 1);
        let Event::Packet(p) = &events[0] else {
            panic!("{events:?}")
        };
        // escape_binary also escapes '*', so run-length expansion leaves
        // it alone and unescaping gives back the data.
        let expanded = expand_rle(p, 1024).expect("no runs in escaped data");
        assert_eq!(unescape_binary(&expanded).expect("unescape"), data);
    }
}
