//! The JSON event lines of the agent, field for field those of the Go peer.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rumor::{Event, LeaveReason, Member, MemberState};
use serde_json::{Value, json};

/// Writes one event line; the stdout lock keeps lines whole between threads.
pub(crate) fn emit(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// An `error` event.
pub(crate) fn error(cmd: Option<&str>, msg: &str, fatal: bool) -> Value {
    let mut v = json!({"event": "error", "msg": msg});
    if let Some(o) = v.as_object_mut() {
        if let Some(c) = cmd {
            o.insert("cmd".into(), c.into());
        }
        if fatal {
            o.insert("fatal".into(), true.into());
        }
    }
    v
}

fn state(m: &Member, left: Option<LeaveReason>) -> &'static str {
    match (left, m.state) {
        (Some(LeaveReason::Left), _) | (None, MemberState::Left) => "left",
        (Some(LeaveReason::Failed), _) | (None, MemberState::Dead) => "dead",
        (None, MemberState::Suspect) => "suspect",
        (None, MemberState::Alive) => "alive",
    }
}

fn node(key: &str, m: &Member, left: Option<LeaveReason>) -> serde_json::Map<String, Value> {
    let mut o = serde_json::Map::new();
    o.insert(key.into(), m.name.as_ref().into());
    o.insert("addr".into(), m.addr.ip().to_string().into());
    o.insert("port".into(), m.addr.port().into());
    o.insert("state".into(), state(m, left).into());
    o.insert("meta".into(), String::from_utf8_lossy(&m.meta).into());
    o.insert("meta_b64".into(), B64.encode(&m.meta).into());
    o.insert("incarnation".into(), m.incarnation.into());
    let v = &m.vsn;
    o.insert(
        "vsn".into(),
        json!([
            v.protocol_min,
            v.protocol_max,
            v.protocol_cur,
            v.delegate_min,
            v.delegate_max,
            v.delegate_cur
        ]),
    );
    o
}

/// A node object as `members` lists it (name key `name`).
pub(crate) fn member(key: &str, m: &Member) -> Value {
    Value::Object(node(key, m, None))
}

fn with_event(event: &str, mut o: serde_json::Map<String, Value>) -> Value {
    let mut v = serde_json::Map::new();
    v.insert("event".into(), event.into());
    v.append(&mut o);
    Value::Object(v)
}

/// A `kv` event: a key's value (`null` if absent or deleted, then `value_b64` is `null` too),
/// version and writer. `cmd` is set on the answer to a command (`get`), absent on a change.
pub(crate) fn kv(
    cmd: Option<&str>,
    key: &str,
    value: Option<&[u8]>,
    version: u64,
    writer: &str,
) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("event".into(), "kv".into());
    if let Some(c) = cmd {
        o.insert("cmd".into(), c.into());
    }
    o.insert("key".into(), key.into());
    o.insert(
        "value".into(),
        value.map_or(Value::Null, |v| String::from_utf8_lossy(v).into()),
    );
    o.insert(
        "value_b64".into(),
        value.map_or(Value::Null, |v| B64.encode(v).into()),
    );
    o.insert("version".into(), version.into());
    o.insert("writer".into(), writer.into());
    Value::Object(o)
}

/// Prints a node event (the sink every runtime's event loop feeds).
/// A completed ping: `{"event":"ping","node":N,"rtt_ms":F,"payload_b64":S}`.
pub(crate) fn ping(node: &str, rtt: std::time::Duration, payload: &[u8]) -> serde_json::Value {
    json!({
        "event": "ping", "node": node, "rtt_ms": rtt.as_secs_f64() * 1e3,
        "payload_b64": B64.encode(payload),
    })
}

pub(crate) fn event(e: Event) {
    let v = match e {
        Event::MemberJoined(m) => with_event("join", node("node", &m, None)),
        Event::MemberUpdated(m) => with_event("update", node("node", &m, None)),
        Event::MemberLeft { member, reason } => {
            with_event("leave", node("node", &member, Some(reason)))
        }
        Event::UserMessage { payload: p, from } => json!({
            "event": "user_msg", "payload": String::from_utf8_lossy(&p), "payload_b64": B64.encode(&p),
            "from": from.to_string(),
        }),
        Event::RemoteState { state, join } if !state.is_empty() => json!({
            "event": "remote_state", "payload": String::from_utf8_lossy(&state),
            "payload_b64": B64.encode(&state), "join": join,
        }),
        Event::KeyChanged(c) => kv(None, &c.key, c.value.as_deref(), c.version, &c.writer),
        Event::NameConflict { existing, other } => json!({
            "event": "error", "msg": format!(
                "name conflict: {} is at {} and claimed by {}", existing.name, existing.addr, other.addr),
        }),
        _ => return,
    };
    emit(v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_events() {
        let v = kv(Some("get"), "k", Some(b"v 1"), 7, "node-a");
        assert_eq!(
            v.to_string(),
            r#"{"event":"kv","cmd":"get","key":"k","value":"v 1","value_b64":"diAx","version":7,"writer":"node-a"}"#
        );
        // Binary values: the text form replaces invalid UTF-8, the b64 form is exact.
        let v = kv(None, "bin", Some(&[0xc1, b'x']), 3, "b");
        assert_eq!(v["value"], "\u{fffd}x");
        assert_eq!(v["value_b64"], "wXg=");
        assert!(v.get("cmd").is_none());
        // Absent or deleted: both value fields null.
        let v = kv(None, "gone", None, 9, "c");
        assert_eq!(
            v.to_string(),
            r#"{"event":"kv","key":"gone","value":null,"value_b64":null,"version":9,"writer":"c"}"#
        );
    }
}
