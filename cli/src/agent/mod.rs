//! `rumor agent`: one rumor node driven by one-line commands on stdin, reporting JSON events on
//! stdout, with the flags, commands and events of the project's Go memberlist peer
//! (`conformance/interop/peer`), so that one test harness drives either kind of node.

pub(crate) mod json;

use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rumor::runtime::NodeOptions;
use rumor::wire::{Keyring, SecretKey};
use rumor::{Config, ExchangeMode, MemberState};

use crate::nodes;

const USAGE: &str = "usage: rumor agent [--name N] [--bind IP] [--port P] [--advertise-addr IP]
  [--advertise-port P] [--join HOST:PORT,...] [--meta TEXT] [--key BASE64] [--label TEXT]
  [--profile local|lan|wan] [--runtime tokio|async-std|mio] [--probe-interval D]
  [--probe-timeout D] [--gossip-interval D] [--pushpull-interval D] [--tcp-timeout D]
  [--retransmit-mult N] [--suspicion-mult N] [--protocol-version N]
  [--delegate-protocol-version N] [--delegate-protocol-min N] [--delegate-protocol-max N]
  [--compression true|false] [--quiet] [--kv] [--kv-mode push|pull|push-pull]
  [--kv-interval-ms N] [--relay] [--ack-payload TEXT] [--ack-payload-b64 B64]
  [--ping-events] [--allow-cidr NET]... [--reject-meta REGEX] [--metrics-addr HOST:PORT]
Runs one node. Commands on stdin: members, broadcast TEXT, send NODE TEXT,
send-reliable NODE TEXT, local-state TEXT, meta TEXT, join HOST:PORT,..., leave [D],
ping NODE, set KEY VALUE, get KEY, del KEY, shutdown (and broadcast-b64, send-b64,
send-reliable-b64, local-state-b64, meta-b64, set-b64).
--ack-payload sets the payload of this node's acks; ping NODE answers a ping event
{node, rtt_ms, payload_b64} with the other node's ack payload (an error event on timeout), and
--ping-events prints one for every probe this node completes. --allow-cidr (repeatable) is
memberlist's CIDRsAllowed; --reject-meta refuses alive messages and joins that carry a member
whose metadata matches. Join hosts may be names: every address they resolve to is tried.
--metrics-addr serves the node's metrics (memberlist's names, labelled node=NAME) in the
Prometheus text format at http://HOST:PORT/metrics.
Events on stdout, one JSON object per line. D is a Go duration (500ms, 1s, 1m30s).
--kv turns on the replicated map: set/del answer ok with the version, get answers a kv event
{key, value, value_b64, version, writer} (value null if absent or deleted), and every change
of a key prints a kv event. --relay relays broadcasts through every rumor node.";

/// The parsed command line.
struct Flags {
    name: String,
    bind: IpAddr,
    port: u16,
    advertise_addr: Option<IpAddr>,
    advertise_port: Option<u16>,
    join: Vec<String>,
    meta: Vec<u8>,
    runtime: String,
    ack_payload: Vec<u8>,
    ping_events: bool,
    reject_meta: Option<regex::bytes::Regex>,
    metrics_addr: Option<SocketAddr>,
    profile: String,
    config: Config,
}

fn parse_flags(args: Vec<String>) -> Result<Flags, String> {
    let mut f = Flags {
        name: format!("rumor-{}", std::process::id()),
        bind: IpAddr::from([127, 0, 0, 1]),
        port: 0,
        advertise_addr: None,
        advertise_port: None,
        join: Vec::new(),
        meta: Vec::new(),
        runtime: "tokio".into(),
        ack_payload: Vec::new(),
        ping_events: false,
        reject_meta: None,
        metrics_addr: None,
        profile: "local".into(),
        config: Config::local(),
    };
    // Profile first: the interval flags override it wherever they appear.
    let mut overrides: Vec<(String, String)> = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let flag = arg.trim_start_matches('-');
        if flag.len() == arg.len() {
            return Err(format!("unexpected argument {arg}"));
        }
        let (flag, inline) = match flag.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (flag.to_string(), None),
        };
        if flag == "quiet" {
            continue;
        }
        if flag == "kv" || flag == "relay" || flag == "ping-events" {
            // Switches: `--kv`, or Go's `--kv=true|false`.
            overrides.push((flag, inline.unwrap_or_else(|| "true".into())));
            continue;
        }
        if flag == "help" || flag == "h" {
            return Err(String::new());
        }
        let value = match inline.or_else(|| it.next()) {
            Some(v) => v,
            None => return Err(format!("--{flag} needs a value")),
        };
        if flag == "profile" {
            f.config = match value.as_str() {
                "local" => Config::local(),
                "lan" => Config::lan(),
                "wan" => Config::wan(),
                _ => return Err(format!("unknown profile {value}")),
            };
            f.profile = value;
        } else {
            overrides.push((flag, value));
        }
    }
    for (flag, v) in overrides {
        let bad = |what: &str| format!("--{flag}: {what}: {v}");
        let c = &mut f.config;
        match flag.as_str() {
            "name" => f.name = v,
            "bind" => f.bind = v.parse().map_err(|_| bad("not an IP"))?,
            "port" => f.port = v.parse().map_err(|_| bad("not a port"))?,
            "advertise-addr" => f.advertise_addr = Some(v.parse().map_err(|_| bad("not an IP"))?),
            "advertise-port" => f.advertise_port = Some(v.parse().map_err(|_| bad("not a port"))?),
            "join" => f.join = host_list(&v),
            "ack-payload" => f.ack_payload = v.into_bytes(),
            "ack-payload-b64" => {
                f.ack_payload = B64.decode(v.trim()).map_err(|_| bad("not base64"))?
            }
            "ping-events" => f.ping_events = v.parse().map_err(|_| bad("true or false"))?,
            "allow-cidr" => c
                .cidrs_allowed
                .push(v.parse().map_err(|e| bad(&format!("{e}")))?),
            "metrics-addr" => f.metrics_addr = Some(v.parse().map_err(|_| bad("not HOST:PORT"))?),
            "reject-meta" => {
                let re = regex::bytes::Regex::new(&v).map_err(|e| bad(&format!("{e}")))?;
                f.reject_meta = Some(re);
            }
            "meta" => f.meta = v.into_bytes(),
            "runtime" => f.runtime = v,
            "key" => {
                let raw = B64.decode(v.trim()).map_err(|_| bad("not base64"))?;
                let key = SecretKey::new(&raw).map_err(|_| bad("need 16, 24 or 32 bytes"))?;
                c.keyring = Some(Keyring::new(key));
            }
            "label" => c.label = v.into_bytes(),
            "probe-interval" => {
                c.probe_interval = go_duration(&v).ok_or_else(|| bad("bad duration"))?
            }
            "probe-timeout" => {
                c.probe_timeout = go_duration(&v).ok_or_else(|| bad("bad duration"))?
            }
            "gossip-interval" => {
                c.gossip_interval = go_duration(&v).ok_or_else(|| bad("bad duration"))?
            }
            "pushpull-interval" => {
                c.push_pull_interval = go_duration(&v).ok_or_else(|| bad("bad duration"))?;
            }
            "tcp-timeout" => c.tcp_timeout = go_duration(&v).ok_or_else(|| bad("bad duration"))?,
            "retransmit-mult" => c.retransmit_mult = v.parse().map_err(|_| bad("not a number"))?,
            "suspicion-mult" => c.suspicion_mult = v.parse().map_err(|_| bad("not a number"))?,
            "protocol-version" => {
                c.protocol_version = v.parse().map_err(|_| bad("not a number"))?
            }
            "delegate-protocol-version" => {
                c.delegate_protocol_version = v.parse().map_err(|_| bad("not a number"))?;
            }
            "delegate-protocol-min" => {
                c.delegate_protocol_min = v.parse().map_err(|_| bad("not a number"))?;
            }
            "delegate-protocol-max" => {
                c.delegate_protocol_max = v.parse().map_err(|_| bad("not a number"))?;
            }
            "compression" => c.enable_compression = v.parse().map_err(|_| bad("true or false"))?,
            "kv" => c.kv.enabled = v.parse().map_err(|_| bad("true or false"))?,
            "relay" => c.relay_broadcasts = v.parse().map_err(|_| bad("true or false"))?,
            "kv-mode" => {
                c.kv.mode = match v.as_str() {
                    "push" => ExchangeMode::Push,
                    "pull" => ExchangeMode::Pull,
                    "push-pull" => ExchangeMode::PushPull,
                    _ => return Err(bad("push, pull or push-pull")),
                }
            }
            "kv-interval-ms" => {
                let ms = v.parse().map_err(|_| bad("not a number of milliseconds"))?;
                c.kv.exchange_interval = Duration::from_millis(ms);
            }
            _ => return Err(format!("unknown flag --{flag}")),
        }
    }
    f.config.validate().map_err(|e| e.to_string())?;
    Ok(f)
}

/// `host:port,host:port`: names or addresses, resolved when the node joins.
fn host_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

/// The agent's hooks: its ack payload, ping events, and the metadata it refuses.
struct AgentHooks {
    ack: Vec<u8>,
    pings: Option<std::sync::mpsc::Sender<serde_json::Value>>,
    reject: Option<regex::bytes::Regex>,
}

impl AgentHooks {
    fn refused(&self, meta: &[u8]) -> bool {
        self.reject.as_ref().is_some_and(|re| re.is_match(meta))
    }
}

impl rumor::Hooks for AgentHooks {
    fn allow_alive(&self, member: &rumor::MemberView<'_>) -> bool {
        !self.refused(member.meta)
    }
    fn allow_merge(&self, _join: bool, members: &[rumor::MemberView<'_>]) -> bool {
        !members.iter().any(|m| self.refused(m.meta))
    }
    fn ack_payload(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ack);
    }
    fn ping_complete(&self, member: &rumor::MemberView<'_>, rtt: Duration, payload: &[u8]) {
        // Printed by the agent's own thread: a hook does no I/O.
        if let Some(tx) = &self.pings {
            let _ = tx.send(json::ping(member.name, rtt, payload));
        }
    }
}

/// Go's `time.ParseDuration` for the forms tests use: `0`, and sums such as `1m30s`, `500ms`,
/// `1.5s` with units ns, us, µs, ms, s, m, h.
pub(crate) fn go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Runs `rumor agent` with `args` (after the word `agent`).
pub(crate) fn run(args: Vec<String>) -> ExitCode {
    let flags = match parse_flags(args) {
        Ok(f) => f,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            json::emit(json::error(None, &e, true));
            eprintln!("{USAGE}");
            return ExitCode::from(1);
        }
    };
    // The recorder comes first: a node registers its metrics when it starts.
    if let Some(addr) = flags.metrics_addr {
        let exporter = metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install();
        if let Err(e) = exporter {
            json::emit(json::error(
                None,
                &format!("--metrics-addr {addr}: {e}"),
                true,
            ));
            return ExitCode::from(1);
        }
    }
    let mut options = NodeOptions::new(flags.name.clone(), SocketAddr::new(flags.bind, flags.port))
        .metric_label("node", flags.name.clone());
    options.meta = flags.meta.clone();
    if flags.advertise_addr.is_some() || flags.advertise_port.is_some() {
        let ip = flags.advertise_addr.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        options.advertise = Some(SocketAddr::new(ip, flags.advertise_port.unwrap_or(0)));
    }
    let mut config = flags.config.clone();
    let pings = flags.ping_events.then(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || rx.into_iter().for_each(json::emit));
        tx
    });
    if !flags.ack_payload.is_empty() || pings.is_some() || flags.reject_meta.is_some() {
        config.hooks = Some(std::sync::Arc::new(AgentHooks {
            ack: flags.ack_payload.clone(),
            pings,
            reject: flags.reject_meta.clone(),
        }));
    }
    let encrypted = flags.config.keyring.is_some();
    let protocol_version = flags.config.protocol_version;
    // The node's own `join` event comes before `ready`, as the Go peer prints them.
    let own_join = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let (printed, me) = (own_join.clone(), flags.name.clone());
    let started = nodes::start(
        &flags.runtime,
        config,
        options,
        Box::new(move |e| {
            let own_join = matches!(&e, rumor::Event::MemberJoined(m) if *m.name == *me);
            json::event(e);
            if own_join {
                let (lock, cv) = &*printed;
                *lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
                cv.notify_all();
            }
        }),
    );
    let node = match started {
        Ok(n) => n,
        Err(e) => {
            json::emit(json::error(None, &format!("start: {e}"), true));
            return ExitCode::from(1);
        }
    };
    let kv = flags.config.kv.enabled;
    // Every key's changes, from the start.
    if kv && let Err(e) = node.kv_subscribe(String::new()).wait() {
        json::emit(json::error(None, &format!("kv subscribe: {e}"), false));
    }
    {
        let (lock, cv) = &*own_join;
        let guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = cv.wait_timeout_while(guard, Duration::from_secs(2), |seen| !*seen);
    }
    // What the node advertises: the overrides, the bound address for what they leave out.
    let local = node.local_addr();
    let adv = SocketAddr::new(
        flags.advertise_addr.unwrap_or(local.ip()),
        flags.advertise_port.unwrap_or(local.port()),
    );
    if !flags.join.is_empty() {
        command(&node, kv, "join", &flags.join_arg());
    }
    json::emit(serde_json::json!({
        "event": "ready", "name": flags.name, "addr": adv.ip().to_string(), "port": adv.port(),
        "protocol_version": protocol_version, "encrypted": encrypted, "profile": flags.profile,
        "real_state": true, "runtime": flags.runtime,
    }));
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        if matches!(cmd, "shutdown" | "quit" | "exit") {
            break;
        }
        command(&node, kv, cmd, rest);
    }
    let _ = node.shutdown().wait();
    json::emit(serde_json::json!({"event": "shutdown", "name": flags.name}));
    let _ = std::io::stdout().flush();
    ExitCode::SUCCESS
}

impl Flags {
    fn join_arg(&self) -> String {
        self.join.join(",")
    }
}

/// The key of `get KEY` or `del KEY`: one word.
fn one_key<'a>(cmd: &str, rest: &'a str) -> Result<&'a str, String> {
    let key = rest.trim();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(format!("usage: {cmd} KEY"));
    }
    Ok(key)
}

/// Runs one command line and prints its answer; `kv`: the replicated map is on.
fn command(node: &rumor::runtime::Handle, kv: bool, cmd: &str, rest: &str) {
    let (base, b64) = match cmd.strip_suffix("-b64") {
        Some(b) => (b, true),
        None => (cmd, false),
    };
    let bytes = |s: &str| -> Result<Vec<u8>, String> {
        if b64 {
            B64.decode(s.trim()).map_err(|e| format!("bad base64: {e}"))
        } else {
            Ok(s.as_bytes().to_vec())
        }
    };
    let result: Result<serde_json::Value, String> = (|| {
        let ok = |extra: serde_json::Value| {
            let mut v = serde_json::json!({"event": "ok", "cmd": cmd});
            if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
                o.extend(e);
            }
            v
        };
        let fail = |e: rumor::runtime::NodeError| e.to_string();
        let need_kv = || {
            if kv {
                Ok(())
            } else {
                Err(format!("{} (start with --kv)", rumor::KvError::Disabled))
            }
        };
        match base {
            "members" if !b64 => {
                let mut ms = node.members().wait().map_err(fail)?;
                ms.retain(|m| matches!(m.state, MemberState::Alive | MemberState::Suspect));
                ms.sort_by(|a, b| a.name.cmp(&b.name));
                let list: Vec<_> = ms.iter().map(|m| json::member("name", m)).collect();
                Ok(serde_json::json!({"event": "members", "members": list}))
            }
            "broadcast" => {
                node.broadcast(bytes(rest)?).wait().map_err(fail)?;
                Ok(ok(serde_json::json!({"queued": 1})))
            }
            "send" | "send-reliable" => {
                let (to, text) = rest.split_once(' ').unwrap_or((rest, ""));
                if to.is_empty() {
                    return Err("usage: send NODE TEXT".into());
                }
                node.send(to.into(), bytes(text)?, base == "send-reliable")
                    .wait()
                    .map_err(fail)?;
                Ok(ok(serde_json::json!({"to": to})))
            }
            "local-state" => {
                node.set_local_state(bytes(rest)?).wait().map_err(fail)?;
                Ok(ok(serde_json::json!({})))
            }
            "meta" => {
                node.set_meta(bytes(rest)?).wait().map_err(fail)?;
                Ok(ok(serde_json::json!({})))
            }
            "join" if !b64 => {
                let hosts = host_list(rest);
                if hosts.is_empty() {
                    return Err("usage: join HOST:PORT,...".into());
                }
                let r = node.join_hosts(hosts).wait().map_err(fail)?;
                if r.contacted == 0 {
                    return Err(format!("no seed answered ({} failed)", r.failed));
                }
                Ok(ok(serde_json::json!({"joined": r.contacted})))
            }
            "ping" if !b64 => {
                let name = one_key(cmd, rest)?;
                let members = node.all_members().wait().map_err(fail)?;
                let m = members
                    .iter()
                    .find(|m| &*m.name == name)
                    .ok_or_else(|| format!("no member {name}"))?;
                let pong = node.ping(name.into(), m.addr).wait().map_err(fail)?;
                Ok(json::ping(name, pong.rtt, &pong.payload))
            }
            "leave" if !b64 => {
                let timeout = if rest.trim().is_empty() {
                    Duration::from_secs(5)
                } else {
                    go_duration(rest).ok_or_else(|| format!("bad duration {rest}"))?
                };
                node.leave(timeout).wait().map_err(fail)?;
                Ok(ok(serde_json::json!({})))
            }
            "set" => {
                need_kv()?;
                let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
                if key.is_empty() {
                    return Err(format!("usage: {cmd} KEY VALUE"));
                }
                let version = node
                    .kv_set(key.into(), bytes(value)?)
                    .wait()
                    .map_err(fail)?;
                Ok(ok(serde_json::json!({"version": version})))
            }
            "del" if !b64 => {
                need_kv()?;
                let key = one_key(cmd, rest)?;
                let version = node.kv_delete(key.into()).wait().map_err(fail)?;
                Ok(ok(serde_json::json!({"version": version})))
            }
            "get" if !b64 => {
                need_kv()?;
                let key = one_key(cmd, rest)?;
                Ok(match node.kv_get(key.into()).wait().map_err(fail)? {
                    Some(e) => json::kv(Some(cmd), key, e.value.as_deref(), e.version, &e.writer),
                    None => json::kv(Some(cmd), key, None, 0, ""),
                })
            }
            _ => Err(format!("unknown command {cmd}")),
        }
    })();
    match result {
        Ok(v) => json::emit(v),
        Err(e) => json::emit(json::error(Some(cmd), &e, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("0"), Some(Duration::ZERO));
        assert_eq!(go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(go_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(go_duration("10"), None);
        assert_eq!(go_duration("s"), None);
        assert_eq!(go_duration(""), None);
    }

    #[test]
    fn flags_with_one_or_two_dashes() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let f = parse_flags(args(&[
            "--name",
            "a",
            "-port=7000",
            "--probe-interval",
            "700ms",
            "--profile",
            "lan",
        ]))
        .expect("flags");
        assert_eq!(f.name, "a");
        assert_eq!(f.port, 7000);
        // The interval override wins over the profile named after it.
        assert_eq!(f.config.probe_interval, Duration::from_millis(700));
        assert_eq!(f.config.suspicion_mult, Config::lan().suspicion_mult);
        assert!(parse_flags(args(&["--nope", "1"])).is_err());
    }

    #[test]
    fn kv_and_relay_flags() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // Off unless asked for.
        let f = parse_flags(args(&["--name", "a"])).expect("flags");
        assert!(!f.config.kv.enabled);
        assert!(!f.config.relay_broadcasts);
        assert_eq!(f.config.kv.mode, ExchangeMode::PushPull);
        let f = parse_flags(args(&["--kv", "--relay", "--name", "a"])).expect("flags");
        assert!(f.config.kv.enabled);
        assert!(f.config.relay_broadcasts);
        assert_eq!(f.name, "a");
        assert_eq!(f.config.kv.mode, ExchangeMode::PushPull);
        assert_eq!(
            f.config.kv.exchange_interval,
            rumor::KvConfig::default().exchange_interval
        );
        // One or two dashes, `=` or a separate value, later flags win; the switches survive a
        // profile named after them.
        let f = parse_flags(args(&[
            "-kv",
            "--kv-mode",
            "push",
            "-kv-mode=pull",
            "--kv-interval-ms",
            "250",
            "--relay=false",
            "--profile",
            "wan",
        ]))
        .expect("flags");
        assert!(f.config.kv.enabled);
        assert!(!f.config.relay_broadcasts);
        assert_eq!(f.config.kv.mode, ExchangeMode::Pull);
        assert_eq!(f.config.kv.exchange_interval, Duration::from_millis(250));
        let f =
            parse_flags(args(&["--kv", "--kv=false", "--kv-mode", "push-pull"])).expect("flags");
        assert!(!f.config.kv.enabled);
        assert!(parse_flags(args(&["--kv-mode", "both"])).is_err());
        assert!(parse_flags(args(&["--kv-interval-ms", "1s"])).is_err());
        assert!(parse_flags(args(&["--kv=maybe"])).is_err());
        // The mode needs a value.
        assert!(parse_flags(args(&["--kv-mode"])).is_err());
    }

    #[test]
    fn kv_keys() {
        assert_eq!(one_key("get", " k1 "), Ok("k1"));
        assert!(one_key("get", "").is_err());
        assert!(one_key("del", "a b").is_err());
    }
}
