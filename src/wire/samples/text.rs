//! Sample messages as text: a bare number or a JSON array (a sender that
//! numbers nothing), and the hints a refused text or map gets.

use serde::de::DeserializeSeed;

use super::{Count, Raw, ValuesSeed};
use crate::wire::{DecodeError, is_json_object};

/// A payload that is text, trimmed: a bare sample (`21.5`, `[1, 2]`) or
/// a word a sensor says instead of one (`unavailable`, `ON`), or nothing
/// (an MQTT client clearing a retained message). MessagePack never starts
/// a map with a byte that begins UTF-8 text, so no map is taken for one;
/// text with control characters is not taken for text.
pub(crate) fn bare_text(payload: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(payload).ok()?;
    let plain = !text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'));
    plain.then_some(text.trim())
}

/// A bare number (one sample) or a JSON array of numbers (consecutive
/// samples), with neither `seq` nor `ts`.
pub(super) fn bare(text: &str, values: &mut Vec<f32>) -> Result<Raw, DecodeError> {
    let mut raw = Raw {
        seq: None,
        ts: None,
        unit: None,
        value: None,
        values: None,
    };
    if text.starts_with('[') {
        let mut de = serde_json::Deserializer::from_str(text);
        let count = ValuesSeed(values)
            .deserialize(&mut de)
            .and_then(|c| de.end().map(|()| c))
            .map_err(|e| {
                DecodeError::Malformed(format!("not a sample message (JSON array): {e}"))
            })?;
        raw.values = Some(count.unwrap_or(Count { n: 0, bad: None }));
        return Ok(raw);
    }
    let shown = || {
        let mut cut = text.len().min(40);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!(
            "{:?}{}",
            &text[..cut],
            if cut < text.len() { "…" } else { "" }
        )
    };
    let v = match text.parse::<f64>() {
        Ok(v) => v,
        Err(_) if text.eq_ignore_ascii_case("null") => f64::NAN,
        Err(_) if text.is_empty() => {
            return Err(DecodeError::Malformed(
                "an empty message, no sample (an MQTT client clears a retained message so)".into(),
            ));
        }
        Err(_) => {
            let comma = text.replacen(',', ".", 1).parse::<f64>().is_ok();
            return Err(DecodeError::Malformed(format!(
                "not a sample message: {} is not a number{}",
                shown(),
                if comma {
                    " (a decimal comma? a sample is written with a point: 21.5)"
                } else {
                    ""
                }
            )));
        }
    };
    let f = v as f32;
    values.push(f);
    raw.value = Some((!f.is_finite()).then_some((0, v)));
    Ok(raw)
}

/// The numbers a map without its sample holds, and under which keys, for
/// the refusal: `(its numbers are under "temperature", "humidity": …)`.
/// Only on that error path is the payload read a second time.
pub(super) fn numbers_under(payload: &[u8], value_key: Option<&str>, key_name: &str) -> String {
    let map: Option<serde_json::Map<String, serde_json::Value>> = if is_json_object(payload) {
        serde_json::from_slice(payload).ok()
    } else {
        rmp_serde::from_slice(payload).ok()
    };
    // Numbers at the top, and in an object one level down (`AM2301.
    // Temperature`, as Tasmota nests a sensor's readings).
    let nested = |(k, v): (&String, &serde_json::Value)| -> Vec<String> {
        match v {
            serde_json::Value::Number(_) if !matches!(k.as_str(), "seq" | "ts") => vec![k.clone()],
            serde_json::Value::Object(inner) => inner
                .iter()
                .filter(|(_, v)| v.is_number())
                .map(|(sub, _)| format!("{k}.{sub}"))
                .collect(),
            _ => Vec::new(),
        }
    };
    let keys: Vec<String> = map
        .iter()
        .flatten()
        .flat_map(nested)
        .map(|k| format!("{k:?}"))
        .take(6)
        .collect();
    let Some(first) = keys.first() else {
        return String::new();
    };
    let how = match value_key {
        Some(_) => format!("another `{key_name}`"),
        None => format!("a route's `{key_name}`"),
    };
    format!(
        " (its numbers are under {}: {how} (`serve --{} {}`) reads one of them as the sample)",
        keys.join(", "),
        key_name.replace('_', "-"),
        first.trim_matches('"')
    )
}

/// A hint for a JSON message that writes a number with a decimal comma
/// (`"value":21,5` or `"value":"21,5"`, as a spreadsheet in Germany would):
/// a key's value that starts with digits, a comma and a digit.
pub(super) fn decimal_comma_hint(payload: &[u8]) -> &'static str {
    let found = payload.iter().enumerate().any(|(i, &b)| {
        if b != b':' {
            return false;
        }
        let mut rest = payload[i + 1..]
            .iter()
            .copied()
            .skip_while(u8::is_ascii_whitespace);
        let mut c = rest.next();
        if c == Some(b'"') {
            c = rest.next();
        }
        if c == Some(b'-') {
            c = rest.next();
        }
        let mut digits = 0;
        while c.is_some_and(|d| d.is_ascii_digit()) {
            digits += 1;
            c = rest.next();
        }
        digits > 0 && c == Some(b',') && rest.next().is_some_and(|d| d.is_ascii_digit())
    });
    let word = |w: &[u8]| payload.windows(w.len()).any(|x| x == w);
    if found {
        " (a decimal comma? JSON numbers take a point: 21.5)"
    } else if word(b"NaN") || word(b"Infinity") {
        // Python's json.dumps writes them; JSON has neither.
        " (JSON has no NaN or Infinity: send null for a missing sample)"
    } else {
        ""
    }
}
