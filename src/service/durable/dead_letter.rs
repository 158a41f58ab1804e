//! Dead letters: an input message refused whole is stored, before the input
//! is acknowledged, on `pipeline.deadletter.<kind>` in the configured
//! stream, with its payload as it came and its error in headers, so that
//! an operator can inspect it (`nats stream view`) and replay it.

use async_nats::jetstream;

use super::{Attempt, retry};
use crate::service::engine;
use crate::service::ingest::Rejection;

/// The subjects of the dead-letter stream.
pub const SUBJECTS: &str = "pipeline.deadletter.>";

/// Headers are one line each, and we keep them short: control characters
/// become spaces, and the value is cut at 1,024 bytes (on a char boundary).
fn header_value(s: &str) -> String {
    let mut v: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if v.len() > 1024 {
        let mut end = 1024;
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        v.truncate(end);
    }
    v
}

/// Stores `msg` (stream sequence `seq` of `input_stream`) as a dead letter
/// in `stream` and waits for the server to have it (answers from other
/// clients to the letter's reply subject are skipped, see
/// `engine::publish_acked`). Its id names the input message, so a replay
/// after a crash stores it once.
pub(super) async fn keep(
    js: &jetstream::Context,
    stream: &str,
    input_stream: &str,
    seq: u64,
    msg: &async_nats::Message,
    why: &Rejection,
) -> Attempt<()> {
    let id = format!("dead:{input_stream}:{seq}");
    let (detail, subject) = (
        header_value(&why.detail),
        header_value(msg.subject.as_str()),
    );
    let (key, seq) = (header_value(&why.stream), seq.to_string());
    let mut headers = vec![
        ("Nats-Msg-Id", id.as_str()),
        ("Pipeline-Error-Kind", why.kind.as_str()),
        ("Pipeline-Error-Detail", &detail),
        ("Pipeline-Subject", &subject),
        ("Pipeline-Stream", &key),
        ("Pipeline-Input-Stream", input_stream),
        ("Pipeline-Input-Seq", &seq),
    ];
    let trace = msg.headers.as_ref().and_then(|h| h.get("traceparent"));
    if let Some(t) = trace.filter(|t| crate::wire::valid_traceparent(t.as_str())) {
        headers.push(("traceparent", t.as_str()));
    }
    let letter = format!("pipeline.deadletter.{}", why.kind.as_str());
    let payload = msg.payload.clone();
    (engine::publish_acked(&js.client(), stream, letter.into(), &headers, payload))
        .await
        .map_err(retry("dead letter not stored"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_values_are_one_short_line() {
        assert_eq!(super::header_value("a\r\nb\tc"), "a  b c");
        let long = "é".repeat(600); // 1,200 bytes
        let v = super::header_value(&long);
        assert!(
            v.len() <= 1024 && v.chars().all(|c| c == 'é'),
            "{}",
            v.len()
        );
    }
}
