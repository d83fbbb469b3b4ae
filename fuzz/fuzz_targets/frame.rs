//! TCP frame decoder: length-delimited bincode, both directions, over chunked input.
//! Every frame decoded re-encodes to a frame that decodes to the same message, and the
//! decoder never buffers more than one maximal frame plus a chunk.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nettool::wire::binary::{encode_frame, FrameCodec};
use nettool::wire::{ClientMsg, ServerMsg};
use nettool_fuzz::{chunked, feed};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;

const MAX: usize = 4096;

fn run<T: DeserializeOwned + Serialize + PartialEq + Debug>(stream: &[u8], chunk: usize) {
    let mut codec = FrameCodec::<T, ()>::new(MAX);
    feed(&mut codec, stream, chunk, MAX + 4 + chunk, |item| {
        if let Ok(msg) = item {
            let again = encode_frame(&msg).expect("re-encode");
            let mut back = FrameCodec::<T, ()>::new(MAX);
            let mut out = Vec::new();
            feed(&mut back, &again, again.len(), usize::MAX, |i| {
                out.push(i.ok())
            });
            assert_eq!(out, vec![Some(msg)]);
        }
    });
}

fuzz_target!(|data: &[u8]| {
    let (chunk, stream) = chunked(data);
    run::<ClientMsg>(stream, chunk);
    run::<ServerMsg>(stream, chunk);
});
