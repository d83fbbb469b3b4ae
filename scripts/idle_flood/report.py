"""One scenario's results: merged from the flood's children and the members, as JSON
fields (`summarise`) and as the lines a person reads (`show`)."""

from .common import EVICT_LOG, SERVER_FULL_LOG, pct


def summarise(name, cmd, waves, args, children, flood, members, sent, still, rss_before, peak,
              rss_end, log_text, log_name):
    merged = {k: [] for k in ("admitted", "banner_ms", "answers", "refused", "evicted", "dropped",
                              "closed")}
    errors, opened, still_open, still_admitted = {}, 0, 0, 0
    lost_children = 0
    for f in flood:
        if f is None:
            lost_children += 1
            continue
        for k in merged:
            merged[k] += f[k]
        for k, v in f["connect_errors"].items():
            errors[k] = errors.get(k, 0) + v
        opened += f["opened"]
        still_open += f["still_open"]
        still_admitted += f["still_admitted"]
    first = lambda xs: round(min(xs), 2) if xs else None
    r2 = lambda x: None if x is None else round(x, 2)
    ms = lambda xs: {"p50": r2(pct(xs, 50)), "p99": r2(pct(xs, 99)), "max": r2(max(xs) if xs else None)}
    flood_out = {
        "connections": args.flood, "rate_per_s": args.rate, "children": children,
        "opened": opened, "connect_errors": errors,
        "admitted": len(merged["admitted"]), "refused": len(merged["refused"]),
        "evicted": len(merged["evicted"]), "dropped_without_a_word": len(merged["dropped"]),
        "closed_otherwise": len(merged["closed"]), "open_at_end": still_admitted,
        "unanswered_at_end": still_open - still_admitted, "lost_children": lost_children,
        "banner_ms": ms(merged["banner_ms"]),
        "first_refusal_s": first(merged["refused"]), "first_eviction_s": first(merged["evicted"]),
        "last_admitted_s": round(max(merged["admitted"]), 2) if merged["admitted"] else None,
    }
    # Per second after the flood started: what happened in it, and how long the
    # connections started in it waited for an answer (banner or refusal).
    timeline = []
    for sec in range(int(max([0.0] + [x for k in ("admitted", "refused", "evicted", "dropped")
                                      for x in merged[k]])) + 1):
        inside = lambda xs: sum(1 for x in xs if sec <= x < sec + 1)
        waits = [w for t, w in merged["answers"] if sec <= t < sec + 1]
        timeline.append({"s": sec, "admitted": inside(merged["admitted"]),
                         "refused": inside(merged["refused"]), "evicted": inside(merged["evicted"]),
                         "dropped": inside(merged["dropped"]), "answered_of_started": len(waits),
                         "answer_ms_p50": pct(waits, 50), "answer_ms_p99": pct(waits, 99)})
    flood_out["timeline"] = timeline
    waves_out = []
    for at in waves:
        ms_ = [m for m in members if m.wave == at]
        ins = [m for m in ms_ if m.in_at is not None]
        waves_out.append({
            "arrive_s": at, "members": len(ms_), "got_in": len(ins),
            "at_first_try": sum(1 for m in ins if m.attempts == 1),
            "refusals": sum(m.refused for m in ms_),
            "dropped_without_a_word": sum(m.dropped for m in ms_),
            "errors": sum(m.errors for m in ms_),
            "welcome_ms": ms([m.welcome_ms for m in ins]),
            "in_at_s": {"first": first([m.in_at for m in ins]),
                        "last": round(max(m.in_at for m in ins), 2) if ins else None},
            "evicted": sum(1 for m in ms_ if m.evicted),
            "closed_before_end": sum(1 for m in ins if m not in still),
        })
    expected = sum(len(exp) for _, exp in sent)
    delivered = sum(1 for n, exp in sent for o in exp if n in o.heard)
    return {
        "scenario": name, "server": " ".join(cmd), "waves_s": waves, "real_per_wave": args.real,
        "flood": flood_out, "real": waves_out,
        "chat_lines": {"sent": len(sent), "expected": expected, "delivered": delivered},
        "real_evicted": sum(1 for m in members if m.evicted),
        "server_rss_kb": {"before": rss_before, "peak": peak[0], "peak_at_s": round(peak[1], 1),
                          "end": rss_end},
        "server_log": {"server_full": log_text.count(SERVER_FULL_LOG),
                       "evictions": log_text.count(EVICT_LOG),
                       "accept_failed": log_text.count("accept failed"),
                       "too_slow": log_text.count("too slow"),
                       "file": log_name if args.keep_log else None},
    }


def show(r):
    f, lg, rss = r["flood"], r["server_log"], r["server_rss_kb"]
    fmt = lambda d: "p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms".format(d["p50"], d["p99"], d["max"]) \
        if d["p50"] is not None else "-"
    print(f"== {r['scenario']}: {r['server']}")
    print(f"flood      {f['connections']} idle connections at {f['rate_per_s']}/s from "
          f"{f['children']} processes; {f['opened']} opened, connect errors {f['connect_errors'] or 0}")
    print(f"           admitted {f['admitted']} (banner {fmt(f['banner_ms'])}), refused {f['refused']}, "
          f"evicted {f['evicted']}, dropped without a word {f['dropped_without_a_word']}, "
          f"closed otherwise {f['closed_otherwise']}")
    print(f"           first refusal at {f['first_refusal_s']} s, last admission at "
          f"{f['last_admitted_s']} s, first eviction at {f['first_eviction_s']} s; "
          f"open at the end {f['open_at_end']} (+{f['unanswered_at_end']} never answered)")
    print("           per second: admitted/refused/evicted/dropped; answer p50/p99 (ms) for those started then")
    row = []
    for t in f["timeline"]:
        ans = "-" if t["answer_ms_p50"] is None else f"{t['answer_ms_p50']:.0f}/{t['answer_ms_p99']:.0f}"
        row.append(f"{t['s']:>2}s {t['admitted']}/{t['refused']}/{t['evicted']}/{t['dropped']} {ans}")
    for i in range(0, len(row), 4):
        print("           " + " | ".join(row[i:i + 4]))
    for w in r["real"]:
        print(f"real @{w['arrive_s']:>5} s {w['got_in']:>3}/{w['members']} in "
              f"({w['at_first_try']} at the first try; {w['refusals']} refusals, "
              f"{w['dropped_without_a_word']} dropped without a word, {w['errors']} errors); "
              f"welcome {fmt(w['welcome_ms'])}; in at {w['in_at_s']['first']}..{w['in_at_s']['last']} s; "
              f"evicted {w['evicted']}, closed early {w['closed_before_end']}")
    c = r["chat_lines"]
    print(f"chat       {c['sent']} lines from real members, {c['delivered']} of {c['expected']} "
          f"deliveries to real members; real members evicted: {r['real_evicted']}")
    mb = lambda kb: f"{kb / 1024:.1f} MB" if kb else "?"
    print(f"server     RSS {mb(rss['before'])} before, {mb(rss['peak'])} at peak ({rss['peak_at_s']} s), "
          f"{mb(rss['end'])} at the end; CPU {r.get('server_cpu_s', '?')} s; log: {lg['server_full']} 'server full', "
          f"{lg['evictions']} evictions, {lg['accept_failed']} accept errors, {lg['too_slow']} 'too slow'; "
          f"kernel: {r.get('listen_overflows', '?')} accept-queue overflows")
    print()

