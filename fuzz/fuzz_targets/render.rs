//! Text rendering of any server message that decodes from bincode: always one line, no
//! control characters, so no sender can forge a line for text peers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nettool::wire::binary::decode;
use nettool::wire::text::render;
use nettool::wire::ServerMsg;
use nettool_fuzz::check_line;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode::<ServerMsg>(data) {
        if let Some(line) = render(&msg) {
            check_line(&line);
        }
    }
});
