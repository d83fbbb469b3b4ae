//! The gate's decisions, without sockets: answers within 3× for every length of first
//! line, the documented challenge forms, admission by code and token, and the notice
//! for a member dropped for silence.

use super::*;

fn gate(cfg: &UdpConfig) -> (Gate, Instant) {
    let now = Instant::now();
    let jar = CookieJar::with_key([7; 16], cfg.cookie_period, now);
    let g = Gate::with_jar(jar, cfg, 9000, Arc::new(GuardStats::default()));
    (g, now)
}

fn from() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

fn answer(v: Verdict<'_>) -> String {
    match v {
        Verdict::Answer(b) => String::from_utf8(b.to_vec()).expect("a text answer"),
        other => panic!("not an answer: {other:?}"),
    }
}

/// The line an unvalidated peer that sent `got` bytes gets for `msg` (the exact words
/// are pinned by `wire::text`'s tests).
fn within(msg: &ServerMsg, got: usize) -> Option<String> {
    text::line_within(msg, 3 * got)
}

#[test]
fn every_first_line_gets_the_longest_answer_that_fits_three_times_it() {
    let cfg = UdpConfig::default();
    let (mut g, now) = gate(&cfg);
    let challenge = ServerMsg::Challenge {
        code: g.jar.code(from(), now),
    };
    let code = format!("/ok {}\n", g.jar.code(from(), now));
    for len in 1..=40usize {
        let mut d = vec![b'x'; len - 1];
        d.push(b'\n');
        let v = g.stranger(&d, from(), now);
        match within(&challenge, len) {
            None => {
                assert!(len < 3, "{len} bytes get an answer");
                assert_eq!(v, Verdict::Ignore, "{len} bytes");
            }
            Some(want) => {
                let got = answer(v);
                assert!(got.len() <= 3 * len, "{len}: {got:?}");
                assert_eq!(got.ends_with(&code), len >= 5, "{len}: {got:?}");
                assert_eq!(got, want, "{len} bytes");
            }
        }
    }
    // `/join`, which the shortest answer asks for, is long enough for the code.
    let join = answer(g.stranger(b"/join\n", from(), now));
    assert!(join.ends_with(&code), "{join:?}");
}

#[test]
fn a_right_code_admits_with_what_followed_and_a_wrong_one_is_challenged_again() {
    let cfg = UdpConfig::default();
    let (mut g, now) = gate(&cfg);
    let code = g.jar.code(from(), now);
    let v = g.stranger(b"/ok ZZZZZZ\n", from(), now);
    assert!(answer(v).ends_with(&format!("/ok {code}\n")));
    assert_eq!(g.stats.bad_tokens.load(Ordering::Relaxed), 1);
    let d = format!("/ok {}\r\nhi there\n", code.to_lowercase());
    assert_eq!(
        g.stranger(d.as_bytes(), from(), now),
        Verdict::Admit {
            format: Format::Text,
            nick: None,
            rest: b"hi there\n",
        }
    );
    // Another address cannot use it.
    let other: SocketAddr = "127.0.0.1:40001".parse().unwrap();
    assert!(matches!(
        g.stranger(d.as_bytes(), other, now),
        Verdict::Answer(_)
    ));
}

#[test]
fn binary_strangers_get_a_retry_then_join_with_the_token() {
    let cfg = UdpConfig::default();
    let (mut g, now) = gate(&cfg);
    let hello = binary::encode_datagram(&ClientMsg::Hello { nick: None }).unwrap();
    let Verdict::Answer(retry) = g.stranger(&hello, from(), now) else {
        panic!("a Retry");
    };
    assert!(retry.len() <= 3 * hello.len());
    let Some(Handshake::Retry { token }) = binary::decode_handshake(&retry) else {
        panic!("not a Retry");
    };
    let back = binary::encode_handshake(&Handshake::Hello {
        token,
        nick: Some("bob".into()),
    })
    .unwrap();
    assert_eq!(
        g.stranger(&back, from(), now),
        Verdict::Admit {
            format: Format::Binary,
            nick: Some("bob".into()),
            rest: &[],
        }
    );
    // A member's message from an address that is not one: told it timed out.
    let say = binary::encode_datagram(&ClientMsg::Who).unwrap();
    let Verdict::Answer(bye) = g.stranger(&say, from(), now) else {
        panic!("a Bye");
    };
    assert_eq!(
        binary::decode_datagram::<ServerMsg>(&bye).ok(),
        Some(ServerMsg::Bye {
            reason: LeaveReason::TimedOut
        })
    );
}

#[test]
fn server_lines_guarded_ports_and_junk_are_never_answered() {
    let cfg = UdpConfig::default();
    let (mut g, now) = gate(&cfg);
    let reflected = text::line_within(
        &ServerMsg::Challenge {
            code: "ABCDEF".into(),
        },
        100,
    );
    let refusal = text::line_within(&ServerMsg::Refused(Refusal::RoomFull), 100);
    for d in [reflected.unwrap(), refusal.unwrap()] {
        assert_eq!(g.stranger(d.as_bytes(), from(), now), Verdict::Ignore);
    }
    for port in [7, 19, 123, 7007, 7070, 9000] {
        let src: SocketAddr = ([127, 0, 0, 1], port).into();
        assert_eq!(g.stranger(b"hello there\n", src, now), Verdict::Ignore);
    }
    assert_eq!(g.stranger(&[0, 2, 0xff], from(), now), Verdict::Ignore);
    assert_eq!(g.stranger(b"\xff\xfe\n", from(), now), Verdict::Ignore);
    assert_eq!(g.stats.unanswered.load(Ordering::Relaxed), 10);
}

#[test]
fn a_member_dropped_for_silence_is_told_so_until_it_rejoins() {
    let cfg = UdpConfig::default();
    let (mut g, now) = gate(&cfg);
    let code = g.jar.code(from(), now);
    let expired = ServerMsg::Expired {
        idle_ms: 30_000,
        code: code.clone(),
    };
    let challenge = ServerMsg::Challenge { code: code.clone() };
    g.dropped_for_silence(from(), now);
    let long = b"are you still there? I was away\n";
    for line in [&long[..], b"hi again\n", b"hi\n"] {
        let want = within(&expired, line.len());
        assert_eq!(Some(answer(g.stranger(line, from(), now))), want);
    }
    // Rejoining forgets it; so does time.
    assert!(matches!(
        g.stranger(format!("/ok {code}\n").as_bytes(), from(), now),
        Verdict::Admit { .. }
    ));
    let first = within(&challenge, long.len());
    assert_eq!(Some(answer(g.stranger(long, from(), now))), first);
    g.dropped_for_silence(from(), now);
    let later = now + DROPPED_MEMORY;
    let fresh = ServerMsg::Challenge {
        code: g.jar.code(from(), later),
    };
    let want = within(&fresh, long.len());
    assert_eq!(Some(answer(g.stranger(long, from(), later))), want);
}

#[test]
fn the_memory_of_dropped_members_is_capped_oldest_first() {
    let cfg = UdpConfig {
        max_peers: 2,
        ..Default::default()
    };
    let (mut g, now) = gate(&cfg);
    let addr = |p: u16| -> SocketAddr { ([127, 0, 0, 1], p).into() };
    for p in [40001, 40002, 40003] {
        g.dropped_for_silence(addr(p), now);
    }
    assert_eq!(g.dropped.since(&addr(40001), now), None);
    assert!(g.dropped.since(&addr(40002), now).is_some());
    assert!(g.dropped.since(&addr(40003), now).is_some());
    // Re-dropping an address many times keeps the bookkeeping bounded.
    for _ in 0..100 {
        g.dropped_for_silence(addr(40003), now);
    }
    assert!(g.dropped.order.len() <= 4);
    assert!(g.dropped.since(&addr(40002), now).is_some());
}
