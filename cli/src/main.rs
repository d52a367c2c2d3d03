//! The `rumor` command-line tool.
//!
//! `rumor agent [FLAGS]` runs one node on a chosen runtime, driven by line commands on stdin,
//! reporting JSON events on stdout (the protocol of the project's Go memberlist peer).
//!
//! `rumor decode [--stream] [--key HEX] [--label TEXT] HEX...` peels a captured memberlist
//! datagram (or stream message) layer by layer: label, encryption, CRC, compression, compound,
//! and prints every message in it. With no HEX arguments it reads one hex string per line from
//! standard input.

mod agent;
mod demo;
mod nodes;

use std::io::BufRead;
use std::process::ExitCode;

use rumor::Limits;
use rumor::wire::{
    DecodeError, Keyring, Lzw, Message, SecretKey, decode_packet, decode_stream, strip_crc,
    strip_label,
};

const USAGE: &str = "\
usage: rumor <command> [--help] [ARGS]

commands:
  demo     a live local cluster: join, crash, leave, metadata, broadcasts, the replicated map
  agent    one node driven by line commands on stdin, JSON events on stdout (the Go peer's protocol)
  decode   peels captured memberlist bytes (hex) and prints every message they hold

  rumor decode [--stream] [--key HEX] [--label TEXT] [HEX...]
  rumor --version";

struct Options {
    stream: bool,
    keyring: Option<Keyring>,
    label: Vec<u8>,
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("decode") => decode_command(args.collect()),
        Some("agent") => agent::run(args.collect()),
        Some("demo") => demo::run(args.collect()),
        Some("--version") => {
            println!("rumor {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn decode_command(args: Vec<String>) -> ExitCode {
    let mut opts = Options {
        stream: false,
        keyring: None,
        label: Vec::new(),
    };
    let mut inputs = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--stream" => opts.stream = true,
            "--key" => {
                let key = it.next().and_then(|k| hex::decode(k).ok());
                match key.map(|k| SecretKey::new(&k)) {
                    Some(Ok(k)) => match &mut opts.keyring {
                        Some(r) => r.add(k),
                        None => opts.keyring = Some(Keyring::new(k)),
                    },
                    _ => {
                        eprintln!("--key needs 16, 24 or 32 bytes in hex");
                        return ExitCode::from(2);
                    }
                }
            }
            "--label" => opts.label = it.next().unwrap_or_default().into_bytes(),
            _ => inputs.push(a),
        }
    }
    if inputs.is_empty() {
        inputs = std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .collect();
    }
    let mut failed = false;
    for input in inputs.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        match hex::decode(input) {
            Ok(bytes) => {
                if let Err(e) = peel(&bytes, &opts) {
                    println!("  error: {e}");
                    failed = true;
                }
            }
            Err(e) => {
                println!("not hex: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn peel(bytes: &[u8], opts: &Options) -> Result<(), DecodeError> {
    println!("{} bytes", bytes.len());
    let (label, rest) = strip_label(bytes)?;
    if !label.is_empty() {
        println!("  label {:?}", String::from_utf8_lossy(label));
    }
    let mut plain = vec![0u8; rest.len()];
    let rest = match (&opts.keyring, opts.stream, rest.first()) {
        (Some(ring), true, Some(10)) => {
            let n = ring.open_stream(rest, &opts.label, &mut plain)?;
            println!("  encrypted stream frame, version {}", rest[5]);
            &plain[..n]
        }
        (Some(ring), false, Some(&v)) => {
            let n = ring.open(rest, &opts.label, &mut plain)?;
            println!("  encrypted, version {v}");
            &plain[..n]
        }
        _ => rest,
    };
    let mut lzw = Lzw::new();
    if opts.stream {
        let limits = Limits::default();
        let (msg, used) = decode_stream(rest, &limits)?;
        show(&msg, 1, &mut lzw, true)?;
        if used < rest.len() {
            println!("  ({} bytes follow)", rest.len() - used);
        }
        Ok(())
    } else {
        let inner = strip_crc(rest)?;
        if inner.len() != rest.len() {
            println!("  CRC ok");
        }
        show(&decode_packet(inner)?, 1, &mut lzw, false)
    }
}

fn show(msg: &Message<'_>, depth: usize, lzw: &mut Lzw, stream: bool) -> Result<(), DecodeError> {
    let pad = "  ".repeat(depth);
    let limits = Limits::default();
    match msg {
        Message::Compound(c) => {
            println!("{pad}compound of {} parts", c.count());
            for part in c.parts() {
                show(&decode_packet(part)?, depth + 1, lzw, false)?;
            }
            if c.truncated() > 0 {
                println!("{pad}  ({} truncated parts)", c.truncated());
            }
        }
        Message::Compress(c) => {
            let mut out = Vec::new();
            let limit = if stream {
                limits.max_decompressed
            } else {
                limits.max_packet_decompressed
            };
            lzw.decompress(c, limit, &mut out)?;
            println!("{pad}compressed, {} -> {} bytes", c.buf.len(), out.len());
            let inner = if stream {
                decode_stream(&out, &limits)?.0
            } else {
                decode_packet(&out)?
            };
            show(&inner, depth + 1, lzw, stream)?;
        }
        Message::PushPull(pp) => {
            println!(
                "{pad}push/pull join={} nodes={} user_state={} bytes",
                pp.join,
                pp.nodes.len(),
                pp.user_state.len()
            );
            for s in pp.nodes {
                println!("{pad}  {:?}", s?);
            }
        }
        Message::User(b) => println!("{pad}user message {:?}", String::from_utf8_lossy(b)),
        other => println!("{pad}{other:?}"),
    }
    Ok(())
}
