//! Text rendering of any server message that decodes from bincode: always one line, no
//! control characters, so no sender can forge a line for text peers; and the answer to
//! an unvalidated UDP address (`line_within`, budget from the first byte) never exceeds
//! its budget.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nettool::wire::binary::decode;
use nettool::wire::text::{line_within, render};
use nettool::wire::ServerMsg;
use nettool_fuzz::check_line;

fuzz_target!(|data: &[u8]| {
    let Some((&budget, payload)) = data.split_first() else {
        return;
    };
    if let Ok(msg) = decode::<ServerMsg>(data) {
        if let Some(line) = render(&msg) {
            check_line(&line);
        }
    }
    if let Ok(msg) = decode::<ServerMsg>(payload) {
        if let Some(line) = line_within(&msg, budget as usize) {
            assert!(line.len() <= budget as usize, "{line:?} over {budget}");
            check_line(line.trim_end_matches('\n'));
        }
    }
});
