//! A bare relay in Rust, the floor of the idle-latency benchmark
//! (`benches/idle_latency.py --relay-cmd`): every message on the input
//! subject is republished to the output subject as it arrives, with the same
//! client (async-nats) and nothing else. A service's answer crosses the
//! server twice, so no service on the bus can answer faster than this.
//!
//!     cargo bench --bench relay -- nats://127.0.0.1:4222 relay.in relay.out
//!
//! Prints `ready` once subscribed; runs until killed.

use futures::StreamExt;

fn main() -> anyhow::Result<()> {
    // `cargo bench` adds `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [url, input, output] = args.as_slice() else {
        anyhow::bail!("usage: relay URL IN_SUBJECT OUT_SUBJECT");
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = async_nats::connect(url.as_str()).await?;
        let mut sub = client.subscribe(input.clone()).await?;
        client.flush().await?;
        println!("ready");
        while let Some(msg) = sub.next().await {
            client.publish(output.clone(), msg.payload).await?;
        }
        Ok(())
    })
}
