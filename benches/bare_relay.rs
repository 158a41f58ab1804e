//! A relay with no client library at all: blocking std sockets and the NATS
//! text protocol written by hand, every message on the input subject
//! republished to the output subject as it is read. Beside `relay.rs`
//! (async-nats), it tells how much of an idle round trip any client library
//! costs: in BENCHMARKS.md ("The hops between processes"), 8 µs of the
//! responder's own time against async-nats's 14.
//!
//!     cargo bench --bench bare_relay -- nats://127.0.0.1:4222 relay.in relay.out
//!
//! Prints `ready` once subscribed; runs until killed. Plain TCP, no auth,
//! payloads as they come (no headers): a measuring tool, not a client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    // `cargo bench` adds `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [url, input, output] = args.as_slice() else {
        bail!("usage: bare_relay nats://HOST:PORT IN_SUBJECT OUT_SUBJECT");
    };
    let addr = url.trim_start_matches("nats://");
    let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut from = BufReader::new(stream);
    let mut line = String::new();
    from.read_line(&mut line)?; // the server's INFO
    if !line.starts_with("INFO") {
        bail!("not a NATS server: {line:?}");
    }
    write!(
        out,
        "CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\nSUB {input} 1\r\nPING\r\n"
    )?;
    let (mut ready, mut payload, mut msg) = (false, Vec::new(), Vec::new());
    loop {
        line.clear();
        if from.read_line(&mut line)? == 0 {
            return Ok(()); // the server closed the connection
        }
        let op = line.trim_end();
        if op == "PONG" && !ready {
            println!("ready");
            ready = true;
        } else if op == "PING" {
            out.write_all(b"PONG\r\n")?;
        } else if op.starts_with("-ERR") {
            bail!("the server said {op}");
        } else if op.starts_with("MSG ") {
            // MSG <subject> <sid> [reply-to] <#bytes>
            let len: usize = op
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .with_context(|| format!("a MSG line without a size: {op:?}"))?;
            payload.resize(len + 2, 0); // with its CRLF
            from.read_exact(&mut payload)?;
            msg.clear();
            write!(msg, "PUB {output} {len}\r\n")?;
            msg.extend_from_slice(&payload);
            out.write_all(&msg)?;
        }
    }
}
