//! The QUIC sink's queue: rounds, bounds, the slow policy.

use super::*;
use futures_util::FutureExt;

fn msg(text: &str) -> Arc<Outgoing> {
    Arc::new(Outgoing::new(ServerMsg::Error(text.into())))
}

fn limits(messages: usize, policy: SlowPolicy) -> QueueLimits {
    QueueLimits {
        messages,
        bytes: 1 << 20,
        policy,
    }
}

#[test]
fn send_only_queues_and_the_rounds_flush_wakes_the_writer() {
    let (sink, shared) = queue(limits(100, SlowPolicy::Disconnect));
    assert_eq!(sink.send(&msg("a")), Ok(()));
    assert_eq!(sink.send(&msg("b")), Ok(()));
    assert!(
        shared.wake.notified().now_or_never().is_none(),
        "no wake-up before the flush"
    );
    sink.flush();
    assert!(
        shared.wake.notified().now_or_never().is_some(),
        "the flush wakes the writer"
    );
    assert_eq!(shared.lock().q.len(), 2);
}

#[test]
fn a_full_queue_is_too_slow_or_drops_its_oldest() {
    let (sink, _shared) = queue(limits(2, SlowPolicy::Disconnect));
    assert_eq!(sink.send(&msg("a")), Ok(()));
    assert_eq!(sink.send(&msg("b")), Ok(()));
    assert_eq!(sink.send(&msg("c")), Err(SendError::Full));
    let (sink, shared) = queue(limits(2, SlowPolicy::DropOldest));
    for m in ["a", "b", "c", "d"] {
        assert_eq!(sink.send(&msg(m)), Ok(()));
    }
    let st = shared.lock();
    assert_eq!((st.q.len(), st.dropped), (2, 2));
    assert!(matches!(st.q[0].msg(), ServerMsg::Error(t) if t == "c"));
}

#[test]
fn a_closed_sink_refuses_more() {
    let (sink, _shared) = queue(limits(2, SlowPolicy::Disconnect));
    sink.close(Close::Flush);
    assert_eq!(sink.send(&msg("a")), Err(SendError::Closed));
}
