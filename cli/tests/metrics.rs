//! `rumor agent --metrics-addr`: the node's metrics in the Prometheus text format, with
//! memberlist's names and a node label, scraped over HTTP; counters move as the node works.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1 (bound, then released for the agent to take).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Starts an agent and waits for its `ready` line; returns it and its port.
fn agent(name: &str, args: &[&str]) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rumor"))
        .args([
            "agent",
            "--name",
            name,
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--quiet",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the agent");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let port = loop {
        let line = lines.next().expect("a ready line").expect("read");
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        if v["event"] == "ready" {
            break v["port"].as_u64().expect("port") as u16;
        }
    };
    // Keep reading so the agent never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, port)
}

/// GET /metrics; the body.
fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// The value of the counter `name` labelled `node="NODE"`.
fn counter(body: &str, name: &str, node: &str) -> Option<f64> {
    body.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(&format!("node=\"{node}\"")))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn an_agent_serves_its_metrics_to_prometheus() {
    let metrics = free_port();
    let addr = format!("127.0.0.1:{metrics}");
    let (mut a, port) = agent("a", &["--metrics-addr", &addr]);
    let seed = format!("127.0.0.1:{port}");
    let (mut b, _) = agent("b", &["--join", &seed]);
    let limit = Instant::now() + Duration::from_secs(60);
    let mut first = None;
    let mut moved = false;
    while Instant::now() < limit && !moved {
        if let Some(body) = scrape(metrics) {
            let sent = counter(&body, "memberlist_udp_sent", "a");
            match (first, sent) {
                (None, Some(v)) if v > 0.0 => {
                    for name in ["memberlist_tcp_accept", "memberlist_msg_alive"] {
                        assert!(counter(&body, name, "a").is_some(), "no {name} in\n{body}");
                    }
                    assert!(body.contains("memberlist_health_score"), "{body}");
                    first = Some(v);
                }
                (Some(f), Some(v)) => moved = v > f,
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for c in [&mut a, &mut b] {
        if let Some(stdin) = c.stdin.as_mut() {
            let _ = writeln!(stdin, "shutdown");
        }
        let _ = c.wait();
    }
    assert!(
        first.is_some(),
        "no memberlist_udp_sent for node a at {addr}"
    );
    assert!(
        moved,
        "memberlist_udp_sent did not grow between two scrapes"
    );
}
