//! Strategies for every message type, and the helpers that feed codecs in chunks.

use bytes::BytesMut;
use nettool::wire::binary::{FrameCodec, MAX_MESSAGE};
use nettool::wire::testing;
use nettool::wire::{ClientMsg, LeaveReason, MemberInfo, Proto, Refusal, ServerMsg};
use proptest::collection::vec;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

// ---- Strategies -----------------------------------------------------------------------
//
// One strategy per enum, one `prop_oneof!` arm per variant. ADDING A VARIANT to
// `ClientMsg`, `ServerMsg` or `LeaveReason` is one line in its strategy below; the
// `*_variant` functions further down have no wildcard arm, so the compiler points here
// whenever a variant is added and not yet covered.

/// Any string: arbitrary unicode, control characters and line breaks included.
pub(super) fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9 ]{0,12}",
        "[\\x00-\\x1f\\x7f\u{85}\u{2028}a/]{0,8}",
        "\\PC{0,300}",
    ]
}

/// A u64 from anywhere in its range, edges weighted.
pub(super) fn any_u64() -> impl Strategy<Value = u64> {
    prop_oneof![any::<u64>(), Just(0), Just(u64::MAX), 0u64..300]
}

pub(super) fn proto() -> impl Strategy<Value = Proto> {
    prop_oneof![Just(Proto::Tcp), Just(Proto::Udp)]
}

pub(super) fn leave_reason() -> impl Strategy<Value = LeaveReason> {
    prop_oneof![
        Just(LeaveReason::Quit),
        Just(LeaveReason::Closed),
        Just(LeaveReason::Reset),
        Just(LeaveReason::TimedOut),
        Just(LeaveReason::TooSlow),
        Just(LeaveReason::Shutdown),
        any_text().prop_map(LeaveReason::BadInput),
        any_text().prop_map(LeaveReason::Error),
        any_text().prop_map(LeaveReason::ServerLost),
        // New LeaveReason variant: add its arm here.
    ]
}

pub(super) fn member_info() -> impl Strategy<Value = MemberInfo> {
    (
        any_text(),
        proto(),
        any_u64(),
        proptest::option::of(any_text()),
    )
        .prop_map(|(nick, proto, online_s, server)| MemberInfo {
            nick,
            proto,
            online_s,
            server,
        })
}

pub(super) fn client_msg() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        proptest::option::of(any_text()).prop_map(|nick| ClientMsg::Hello { nick }),
        (any_u64(), any_u64(), any_text()).prop_map(|(seq, sent_us, text)| ClientMsg::Say {
            seq,
            sent_us,
            text
        }),
        any_text().prop_map(ClientMsg::Nick),
        Just(ClientMsg::Who),
        any::<u32>().prop_map(ClientMsg::WhoPage),
        any_u64().prop_map(|t_us| ClientMsg::Ping { t_us }),
        Just(ClientMsg::Bye),
        // New ClientMsg variant: add its arm here.
    ]
}

pub(super) fn server_msg() -> impl Strategy<Value = ServerMsg> {
    prop_oneof![
        (any_text(), proto(), any::<u32>(), any_u64()).prop_map(
            |(nick, proto, members, keepalive_ms)| ServerMsg::Welcome {
                nick,
                proto,
                members,
                keepalive_ms
            }
        ),
        (any_text(), any_u64(), any_u64(), any_text()).prop_map(|(from, seq, sent_us, text)| {
            ServerMsg::Chat {
                from,
                seq,
                sent_us,
                text,
            }
        }),
        (any_text(), proto()).prop_map(|(nick, proto)| ServerMsg::Joined { nick, proto }),
        (any_text(), leave_reason()).prop_map(|(nick, reason)| ServerMsg::Left { nick, reason }),
        (any_text(), any_text()).prop_map(|(old, new)| ServerMsg::Renamed { old, new }),
        vec(member_info(), 0..20).prop_map(ServerMsg::Members),
        any_u64().prop_map(|t_us| ServerMsg::Pong { t_us }),
        any_text().prop_map(ServerMsg::Error),
        leave_reason().prop_map(|reason| ServerMsg::Bye { reason }),
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(joined, left, online)| {
            ServerMsg::Presence {
                joined,
                left,
                online,
            }
        }),
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(page, pages, online)| {
            ServerMsg::WhoPage {
                page,
                pages,
                online,
            }
        }),
        refusal().prop_map(ServerMsg::Refused),
        any_u64().prop_map(|count| ServerMsg::Dropped { count }),
        any_text().prop_map(|code| ServerMsg::Challenge { code }),
        (any_u64(), any_text()).prop_map(|(idle_ms, code)| ServerMsg::Expired { idle_ms, code }),
        any_u64().prop_map(|in_ms| ServerMsg::IdleWarning { in_ms }),
        any_text().prop_map(ServerMsg::Notice),
        // New ServerMsg variant: add its arm here.
    ]
}

pub(super) fn refusal() -> impl Strategy<Value = Refusal> {
    prop_oneof![
        any_u64().prop_map(|max| Refusal::ServerFull { max }),
        Just(Refusal::RoomFull),
        Just(Refusal::PreambleTimedOut),
        Just(Refusal::BadPreamble),
        // New Refusal variant: add its arm here.
    ]
}

/// Exhaustive on purpose (no `_` arm): a new variant fails to compile here until its
/// strategy arm above exists.
pub(super) fn client_variant(m: &ClientMsg) -> &'static str {
    match m {
        ClientMsg::Hello { .. } => "Hello",
        ClientMsg::Say { .. } => "Say",
        ClientMsg::Nick(_) => "Nick",
        ClientMsg::Who => "Who",
        ClientMsg::Ping { .. } => "Ping",
        ClientMsg::Bye => "Bye",
        ClientMsg::WhoPage(_) => "WhoPage",
    }
}

/// See [`client_variant`].
pub(super) fn server_variant(m: &ServerMsg) -> &'static str {
    match m {
        ServerMsg::Welcome { .. } => "Welcome",
        ServerMsg::Chat { .. } => "Chat",
        ServerMsg::Joined { .. } => "Joined",
        ServerMsg::Left { .. } => "Left",
        ServerMsg::Renamed { .. } => "Renamed",
        ServerMsg::Members(_) => "Members",
        ServerMsg::Pong { .. } => "Pong",
        ServerMsg::Error(_) => "Error",
        ServerMsg::Bye { .. } => "Bye",
        ServerMsg::Presence { .. } => "Presence",
        ServerMsg::WhoPage { .. } => "WhoPage",
        ServerMsg::Refused(_) => "Refused",
        ServerMsg::Dropped { .. } => "Dropped",
        ServerMsg::Challenge { .. } => "Challenge",
        ServerMsg::Expired { .. } => "Expired",
        ServerMsg::IdleWarning { .. } => "IdleWarning",
        ServerMsg::Notice(_) => "Notice",
    }
}

/// Split points for a byte stream: chunk lengths, cycled (0 would stall, so 1 at least).
pub(super) fn chunking() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        Just(vec![1]),
        vec(1usize..64, 1..16),
        vec(1usize..4096, 1..4)
    ]
}

/// What a decoder yielded for a stream: its items, then a stream error if one ended it.
type Fed<C> = Vec<Result<<C as Decoder>::Item, <C as Decoder>::Error>>;

/// Feed `bytes` to `codec` in chunks ([`testing::feed`]): every item, then a stream
/// error if one ended it, and the most the codec's buffer ever held.
pub(super) fn feed<C: Decoder>(codec: &mut C, bytes: &[u8], chunks: &[usize]) -> (Fed<C>, usize) {
    let mut items = Vec::new();
    let high = testing::feed(codec, bytes, chunks, |item| items.push(item));
    (items, high)
}

/// Frames of `msgs` concatenated, encoded by the codec's own encoder.
pub(super) fn frames_of<T: serde::Serialize + Clone>(msgs: &[T]) -> Vec<u8> {
    let mut codec = FrameCodec::<(), T>::new(MAX_MESSAGE);
    let mut dst = BytesMut::new();
    for m in msgs {
        codec.encode(m.clone(), &mut dst).expect("encode frame");
    }
    dst.to_vec()
}

/// Decoded messages of a frame stream, or a description of the first failure.
pub(super) fn decode_frames<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    chunks: &[usize],
) -> Result<Vec<T>, String> {
    let mut codec = FrameCodec::<T, ()>::new(MAX_MESSAGE);
    let (items, _) = feed(&mut codec, bytes, chunks);
    items
        .into_iter()
        .map(|i| match i {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(e)) | Err(e) => Err(e.to_string()),
        })
        .collect()
}

pub(super) fn config() -> ProptestConfig {
    // 256 cases unless PROPTEST_CASES says otherwise.
    ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(256),
    )
}
