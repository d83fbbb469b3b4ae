//! UDP datagram decoder, both directions: never panics, and whatever decodes re-encodes
//! to a datagram that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nettool::wire::binary::{decode_datagram, encode_datagram, is_binary_datagram};
use nettool::wire::{ClientMsg, ServerMsg};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;

fn run<T: DeserializeOwned + Serialize + PartialEq + Debug>(data: &[u8]) {
    if let Ok(msg) = decode_datagram::<T>(data) {
        assert!(is_binary_datagram(data));
        let again = encode_datagram(&msg).expect("re-encode");
        assert_eq!(decode_datagram::<T>(&again).ok(), Some(msg));
    }
}

fuzz_target!(|data: &[u8]| {
    run::<ClientMsg>(data);
    run::<ServerMsg>(data);
});
