//! Fuzz target: arbitrary bytes from a GDB server through the packet
//! decoder and every payload decoder the client uses. Run with
//! `cargo +nightly fuzz run gdb_packet_decode` in harness/debug/fuzz.
#![no_main]

use hilt_debug::gdb::packet::{
    expand_rle, from_hex, from_hex_optional, parse_error_reply, unescape_binary, Decoder, Event,
};
use hilt_debug::gdb::StopReply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the packet limit, so small limits get hit too.
    let (limit, stream) = match data.split_first() {
        Some((l, rest)) => (usize::from(*l) * 16 + 1, rest),
        None => return,
    };
    let mut decoder = Decoder::new(limit);
    for &b in stream {
        if let Some(Event::Packet(p) | Event::Notification(p)) = decoder.push(b) {
            assert!(p.len() <= limit);
            if let Ok(expanded) = expand_rle(&p, limit * 4) {
                assert!(expanded.len() <= limit * 4);
                let _ = unescape_binary(&expanded);
                let _ = from_hex(&expanded);
                let _ = from_hex_optional(&expanded);
                let _ = parse_error_reply(&expanded);
                let _ = StopReply::parse(&expanded);
            }
        }
    }
    let _ = expand_rle(stream, 1 << 16);
});
