//! Operating every instance at once, from the command line: find the
//! `pipeline` instances (`$SRV.PING.pipeline`), send a control request to
//! all of them (each instance answers control subjects in a queue group of
//! its own), and collect one answer from each.

use std::time::Duration;

use async_nats::Client;
use futures::StreamExt;
use serde_json::Value;

use crate::error::{Error, Result};

/// One instance's answer: its JSON, or the service error it sent.
#[derive(Debug, Clone)]
pub struct Reply {
    pub body: std::result::Result<Value, String>,
    /// An error answer's `Nats-Service-Error-Code` (404: no such route).
    pub code: Option<u16>,
}

/// Sends `payload` to `subject` and collects answers until `expect` have
/// come or `wait` has passed (for discovery, `expect` is `usize::MAX`: every
/// answer within `wait`).
pub async fn gather(
    client: &Client,
    subject: &str,
    payload: Vec<u8>,
    expect: usize,
    wait: Duration,
) -> Result<Vec<Reply>> {
    let nats = |e: String| Error::Nats(format!("{subject}: {e}"));
    let inbox = client.new_inbox();
    let mut sub = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| nats(e.to_string()))?;
    client
        .publish_with_reply(subject.to_string(), inbox, payload.into())
        .await
        .map_err(|e| nats(e.to_string()))?;
    client.flush().await.map_err(|e| nats(e.to_string()))?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut replies = Vec::new();
    while replies.len() < expect {
        let Ok(Some(m)) = tokio::time::timeout_at(deadline, sub.next()).await else {
            break;
        };
        let header = |name: &str| {
            let h = m.headers.as_ref()?;
            h.get(name).map(|v| v.to_string())
        };
        let error = header("Nats-Service-Error");
        let code = header("Nats-Service-Error-Code").and_then(|c| c.parse().ok());
        let body = match error {
            Some(e) => Err(e),
            None => serde_json::from_slice(&m.payload)
                .or_else(|_| rmp_serde::from_slice(&m.payload))
                .map_err(|e| format!("unreadable answer: {e}")),
        };
        replies.push(Reply { body, code });
    }
    Ok(replies)
}

/// The instances answering `$SRV.PING.pipeline` within `wait`: each one's
/// PING answer (`id`, `version`, `metadata`).
pub async fn discover(client: &Client, wait: Duration) -> Result<Vec<Value>> {
    let name = crate::service::SERVICE_NAME;
    let replies = gather(
        client,
        &format!("$SRV.PING.{name}"),
        Vec::new(),
        usize::MAX,
        wait,
    )
    .await?;
    Ok(replies.into_iter().filter_map(|r| r.body.ok()).collect())
}

/// Sends a control request (JSON) to every instance found and returns one
/// answer per instance (fewer if some did not answer within `wait`) and
/// how many were found.
pub async fn control_all(
    client: &Client,
    subject: &str,
    request: &Value,
    wait: Duration,
) -> Result<(Vec<Reply>, usize)> {
    let found = discover(client, Duration::from_millis(500)).await?.len();
    if found == 0 {
        return Err(Error::Nats(format!(
            "no {} instance answered $SRV.PING",
            crate::service::SERVICE_NAME
        )));
    }
    let payload = serde_json::to_vec(request).unwrap_or_default();
    let replies = gather(client, subject, payload, found, wait).await?;
    Ok((replies, found))
}

/// Every instance's `$SRV.STATS` data.
pub async fn stats_all(client: &Client, wait: Duration) -> Result<Vec<Value>> {
    let found = discover(client, Duration::from_millis(500)).await?.len();
    let name = crate::service::SERVICE_NAME;
    let replies = gather(
        client,
        &format!("$SRV.STATS.{name}"),
        Vec::new(),
        found,
        wait,
    )
    .await?;
    Ok(replies.into_iter().filter_map(|r| r.body.ok()).collect())
}

/// The data of one endpoint (`translate`, `reload`, …) in a `$SRV.STATS`
/// reply; the endpoints come in no fixed order.
pub fn endpoint_data<'a>(stats: &'a Value, name: &str) -> Option<&'a Value> {
    stats["endpoints"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| &e["data"])
}

/// One line per route of an instance's `$SRV.STATS`, for people.
pub fn describe_stats(stats: &Value) -> Vec<String> {
    let id = stats["id"].as_str().unwrap_or("?");
    let data = endpoint_data(stats, "translate").unwrap_or(&Value::Null);
    // Its name, then its service id (older instances give only the id).
    let id = match data["instance"].as_str() {
        Some(name) => format!("{name} {id}"),
        None => id.to_string(),
    };
    let mse = |r: &Value| match (r["sum_sq"].as_f64(), r["values"].as_f64()) {
        (Some(s), Some(n)) if n > 0.0 => format!("{:.4e}", s / n),
        _ => "-".into(),
    };
    let routes = data["routes"].as_array().cloned().unwrap_or_default();
    let metrics = data["metrics_addr"]
        .as_str()
        .map_or(String::new(), |a| format!("  metrics http://{a}/metrics"));
    // Durable mode: which units it owns and which it stands by for (a
    // standby otherwise looks like an idle owner).
    let units = (data["units"].as_object()).filter(|u| !u.is_empty());
    let units = units.map_or(String::new(), |u| {
        let each: Vec<String> = u
            .iter()
            .map(|(unit, state)| {
                format!("{unit} {}", state.as_str().unwrap_or("?").replace('_', " "))
            })
            .collect();
        format!("  units: {}", each.join(", "))
    });
    // Core mode under overload: windows the route could not keep up with.
    let shed = (data["windows_shed"].as_u64())
        .filter(|n| *n > 0)
        .map_or(String::new(), |n| format!("  shed {n}"));
    let mut lines = vec![format!(
        "{id}  windows_out {}{shed}  errors {}  streams {}{metrics}{units}",
        data["windows_out"],
        data["errors"]
            .as_object()
            .map(|e| e.values().filter_map(Value::as_u64).sum::<u64>())
            .unwrap_or(0),
        data["streams_active"],
    )];
    for r in routes {
        let c = &r["compare"];
        // How many windows the truth MSEs are over, and how many found no
        // truth: a mean of a few windows is not the model's figure.
        let (scored, unmatched) = (
            c["live_vs_truth"]["windows"].as_u64().unwrap_or(0),
            // Since the models changed, as the means (older instances:
            // since start).
            (c["unmatched_now"].as_u64())
                .or(c["unmatched"].as_u64())
                .unwrap_or(0),
        );
        // And truth messages refused whole (another key, no seq): what
        // the watch misses, all of it where none scored.
        let refused = r["truth_refused"].as_u64().unwrap_or(0);
        let mut over = Vec::new();
        if scored + unmatched > 0 {
            over.push(format!("{scored} windows"));
        }
        if unmatched > 0 {
            over.push(format!("{unmatched} without truth"));
        }
        match (refused, scored) {
            (0, _) => {}
            (n, 0) => over.push(format!(
                "{n} truth messages refused, none scored: see its errors"
            )),
            (n, _) => over.push(format!("{n} truth messages refused")),
        }
        let over = match over.is_empty() {
            true => String::new(),
            false => format!(" ({})", over.join("; ")),
        };
        // The route's rule for gaps in time, when it has one, in seconds
        // as `config check` says it.
        let mut gaps =
            (r["max_gap_s"].as_f64()).map_or(String::new(), |s| format!("  max_gap {s}s"));
        // The clock a sensor's changes are read on, when it has one.
        if let Some(s) = r["resample_s"].as_f64() {
            gaps.push_str(&format!("  resample {s}s"));
        }
        // Windows the model was never made for, when there are any.
        let odd = [
            ("out of range", "input_out_of_range"),
            ("off rate", "input_off_rate"),
            ("too fast", "input_too_fast"),
            ("unstamped", "input_unstamped"),
        ]
        .iter()
        .filter_map(|(says, key)| {
            let n = r[key].as_u64().filter(|n| *n > 0)?;
            Some(format!("  {says} {n}"))
        })
        .collect::<String>();
        let odd = odd + &deviating(c, r["unit"].as_str());
        // The MSEs' unit, where the live model's training named the output's.
        let squared = (r["unit"].as_str())
            .map_or(String::new(), |u| format!(" ({})", crate::eval::squared(u)));
        // What the live model translates, where its training named it.
        let channels = (r["channels"].as_str()).map_or(String::new(), |c| format!(" ({c})"));
        // What `pipeline rollback` would put back, once there is one.
        let previous =
            (r["previous"].as_str()).map_or(String::new(), |p| format!("  previous {p}"));
        // Whether the shadow's difference from live is beyond chance.
        let p = &c["shadow_minus_live"];
        let t = (p["windows"].as_u64()).and_then(|n| {
            crate::stats::Paired::t(n, p["sum"].as_f64()?, p["sum_sq"].as_f64()?).map(|t| (n, t))
        });
        let chance = t.map_or(String::new(), |(n, t)| {
            let sure = crate::eval::sure_t(n);
            let verdict = match t {
                t if t <= -sure => "shadow better, beyond chance",
                t if t >= sure => "shadow worse, beyond chance",
                _ if n < 10 => "too few windows apart to tell",
                _ => "no difference beyond chance",
            };
            format!("  (t = {t:.1} over {n} windows apart: {verdict})")
        });
        // The live model's own baseline on the same windows, where its
        // file records one: whether it still beats the simple map.
        let map = &c["map_vs_truth"];
        let map = match map["values"].as_u64().is_some_and(|v| v > 0) {
            true => format!(" linear map {}", mse(map)),
            false => String::new(),
        };
        lines.push(format!(
            "  {}{channels}  live {}  shadow {}{previous}  shadow-vs-live MSE{squared} {}  truth MSE{squared} live {} shadow {}{map}{chance}{over}{gaps}{odd}",
            r["pair"].as_str().unwrap_or("?"),
            r["model"].as_str().unwrap_or("?"),
            r["shadow"].as_str().unwrap_or("-"),
            mse(&c["shadow_vs_live"]),
            mse(&c["live_vs_truth"]),
            mse(&c["shadow_vs_truth"]),
        ));
    }
    lines
}

/// What the instances counted of windows their models were not made for
/// (streams at another step than the training recording's, inputs far out
/// of its range, changes far faster), summed over routes: what to check
/// before the truth column when translations miss their truth, on the
/// routes serving `models` (any route where none is named). `None` where
/// they counted none.
pub fn input_trouble(stats: &[Value], models: &[&str]) -> Option<String> {
    let sum = |key: &str| -> u64 {
        (stats.iter())
            .filter_map(|s| endpoint_data(s, "translate")?["routes"].as_array())
            .flatten()
            // The routes whose live model made the translations in hand.
            .filter(|r| models.is_empty() || models.iter().any(|m| r["model"] == *m))
            .filter_map(|r| r[key].as_u64())
            .sum()
    };
    let said: Vec<String> = [
        (
            "input_off_rate",
            "of streams whose `ts` says they are sampled at another step than the model's \
             training recording (publish at its step, or read them on its clock: serve --resample)",
        ),
        (
            "input_out_of_range",
            "whose input lies over 5 training spreads from what the model was trained on (other \
             units, another channel)",
        ),
        (
            "input_too_fast",
            "of changes far faster than the model's training input changed (a recording sent \
             faster than real time)",
        ),
    ]
    .into_iter()
    .filter_map(|(key, what)| match sum(key) {
        0 => None,
        n => Some(format!("{n} window(s) {what}")),
    })
    .collect();
    (!said.is_empty()).then(|| {
        format!(
            "the service counted {}: its translations of those are not what the model was made \
             for, which is likelier the cause than the truth column",
            said.join("; and ")
        )
    })
}

/// The streams whose truth deviates from their translation now (a route
/// with `[route.deviation]`), the first by name with their mean of truth −
/// translation; nothing where none ever did.
fn deviating(c: &Value, unit: Option<&str>) -> String {
    let (now, begun) = (
        c["deviating"].as_u64().unwrap_or(0),
        c["deviations"].as_u64().unwrap_or(0),
    );
    let named: Vec<String> = (c["deviating_streams"].as_array().into_iter().flatten())
        .filter_map(|s| Some(format!("{} {:+.4}", s[0].as_str()?, s[1].as_f64()?)))
        .collect();
    let more = match now.saturating_sub(named.len() as u64) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    match (now, begun) {
        (0, 0) => String::new(),
        (0, n) => format!("  deviating none ({n} begun)"),
        (k, n) => {
            let unit = unit.map_or(String::new(), |u| format!(" ({u})"));
            format!(
                "  deviating {k}{unit}: {}{more} ({n} begun)",
                named.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pipeline status` names each instance's metrics address when it
    /// serves one, and its routes' models.
    #[test]
    fn status_lines_say_where_to_scrape() {
        let stats = serde_json::json!({
            "id": "X1",
            "endpoints": [{"name": "translate", "data": {
                "windows_out": 7, "errors": {"gap": 1, "malformed": 2}, "streams_active": 3,
                "metrics_addr": "127.0.0.1:9464",
                "routes": [{"pair": "sin-cos", "model": "abc", "shadow": null, "compare": {}}]
            }}]
        });
        let lines = describe_stats(&stats);
        assert_eq!(
            lines[0],
            "X1  windows_out 7  errors 3  streams 3  metrics http://127.0.0.1:9464/metrics"
        );
        assert!(
            lines[1].starts_with("  sin-cos  live abc  shadow -"),
            "{lines:?}"
        );
        let mut scored = stats.clone();
        scored["endpoints"][0]["data"]["routes"][0]["compare"] = serde_json::json!({
            "live_vs_truth": {"windows": 64, "values": 1536, "sum_sq": 3072.0},
            "unmatched": 2000,
            "unmatched_now": 913
        });
        assert!(
            describe_stats(&scored)[1]
                .ends_with("truth MSE live 2.0000e0 shadow - (64 windows; 913 without truth)"),
            "{:?}",
            describe_stats(&scored)
        );
        // Truth refused whole: said, and where none scored, loudly.
        let mut refused = stats.clone();
        refused["endpoints"][0]["data"]["routes"][0]["truth_refused"] = 5616.into();
        assert!(
            describe_stats(&refused)[1]
                .ends_with("(5616 truth messages refused, none scored: see its errors)"),
            "{:?}",
            describe_stats(&refused)
        );
        // Shadowing, the paired test of the two against the truth.
        let mut shadowed = scored.clone();
        shadowed["endpoints"][0]["data"]["routes"][0]["compare"]["shadow_minus_live"] =
            serde_json::json!({"windows": 10, "sum": -10.0, "sum_sq": 19.0});
        assert!(
            describe_stats(&shadowed)[1].contains(
                "shadow -  (t = -3.2 over 10 windows apart: shadow better, beyond chance) (64"
            ),
            "{:?}",
            describe_stats(&shadowed)
        );
        shadowed["endpoints"][0]["data"]["routes"][0]["compare"]["shadow_minus_live"] =
            serde_json::json!({"windows": 10, "sum": -1.0, "sum_sq": 19.0});
        assert!(
            describe_stats(&shadowed)[1].contains("no difference beyond chance"),
            "{:?}",
            describe_stats(&shadowed)
        );
        // Two windows apart, t = -9: Student's t over one degree of
        // freedom is no sure difference (the walk's shadow, whose MSE was
        // the higher over 30 windows, was called better beyond chance).
        shadowed["endpoints"][0]["data"]["routes"][0]["compare"]["shadow_minus_live"] =
            serde_json::json!({"windows": 2, "sum": -2.0, "sum_sq": 2.0 + 2.0 / 81.0});
        assert!(
            describe_stats(&shadowed)[1]
                .contains("(t = -9.0 over 2 windows apart: too few windows apart to tell)"),
            "{:?}",
            describe_stats(&shadowed)
        );
        // After a promotion, what a rollback would put back.
        let mut promoted = stats.clone();
        promoted["endpoints"][0]["data"]["routes"][0]["previous"] = serde_json::json!("old");
        assert!(
            describe_stats(&promoted)[1]
                .starts_with("  sin-cos  live abc  shadow -  previous old  "),
            "{:?}",
            describe_stats(&promoted)
        );
        // Streams whose truth leaves their translation, named.
        let mut deviating = stats.clone();
        deviating["endpoints"][0]["data"]["routes"][0]["compare"] = serde_json::json!({
            "deviations": 3, "deviating": 12, "deviating_streams": [["PS", -42.5], ["SB", 7.25]]
        });
        assert!(
            describe_stats(&deviating)[1]
                .ends_with("  deviating 12: PS -42.5000, SB +7.2500 and 10 more (3 begun)"),
            "{:?}",
            describe_stats(&deviating)
        );
        deviating["endpoints"][0]["data"]["routes"][0]["unit"] = serde_json::json!("°C");
        assert!(
            describe_stats(&deviating)[1].contains("  deviating 12 (°C): PS -42.5000")
                && describe_stats(&deviating)[1].contains("  truth MSE (°C²) live "),
            "{:?}",
            describe_stats(&deviating)
        );
        deviating["endpoints"][0]["data"]["routes"][0]["compare"] =
            serde_json::json!({"deviations": 3, "deviating": 0});
        assert!(describe_stats(&deviating)[1].ends_with("  deviating none (3 begun)"));
        // Windows the model was not made for, what tail says first.
        assert_eq!(input_trouble(std::slice::from_ref(&stats), &[]), None);
        let mut off = stats.clone();
        off["endpoints"][0]["data"]["routes"][0]["input_off_rate"] = serde_json::json!(8590);
        // Not the route of the model whose translations were scored.
        assert_eq!(input_trouble(&[off.clone()], &["other"]), None);
        let said = input_trouble(&[off.clone(), off], &["abc"]).unwrap();
        assert!(
            said.starts_with("the service counted 17180 window(s) of streams whose `ts` says")
                && !said.contains("; and "),
            "{said}"
        );
        let mut gaps = stats.clone();
        gaps["endpoints"][0]["data"]["routes"][0]["max_gap_s"] = serde_json::json!(2700.0);
        assert!(
            describe_stats(&gaps)[1].ends_with("  max_gap 2700s"),
            "{:?}",
            describe_stats(&gaps)
        );
        gaps["endpoints"][0]["data"]["routes"][0]["resample_s"] = serde_json::json!(60.0);
        assert!(
            describe_stats(&gaps)[1].ends_with("  max_gap 2700s  resample 60s"),
            "{:?}",
            describe_stats(&gaps)
        );
        assert!(!lines[1].contains("max_gap"), "{lines:?}");
        assert!(!lines[1].contains("range"), "{lines:?}");
        // The channels a recording's model translates, beside its pair.
        let mut named = stats.clone();
        named["endpoints"][0]["data"]["routes"][0]["channels"] =
            serde_json::json!("P1_Drehzahl → P1_Leistung");
        assert!(
            describe_stats(&named)[1]
                .starts_with("  sin-cos (P1_Drehzahl → P1_Leistung)  live abc"),
            "{:?}",
            describe_stats(&named)
        );
        let mut odd = stats.clone();
        odd["endpoints"][0]["data"]["routes"][0]["input_off_rate"] = serde_json::json!(37);
        let said = describe_stats(&odd);
        assert!(said[1].ends_with("  off rate 37"), "{said:?}");
        let mut shed = stats.clone();
        shed["endpoints"][0]["data"]["windows_shed"] = serde_json::json!(41);
        assert!(
            describe_stats(&shed)[0].starts_with("X1  windows_out 7  shed 41  errors 3"),
            "{:?}",
            describe_stats(&shed)
        );
        assert!(!lines[0].contains("shed"), "{lines:?}");
        let mut without = stats.clone();
        without["endpoints"][0]["data"]
            .as_object_mut()
            .unwrap()
            .remove("metrics_addr");
        assert_eq!(
            describe_stats(&without)[0],
            "X1  windows_out 7  errors 3  streams 3"
        );
    }
}
