//! Two loggers' files, one channel each: `retrain` given both says so and
//! prints the `pipeline join` that makes them one recording; that command,
//! run as printed, writes the file and prints the `retrain` that trains on
//! it, which runs as printed too.

use super::*;

/// `time,<name>`: a row a second from 2026-05-01T00:00:00Z plus `offset_ms`,
/// the value `f(t)`.
fn logger(path: &Path, name: &str, offset_ms: u64, rows: usize, f: fn(usize) -> f64) {
    let mut text = format!("time,{name}\n");
    for t in 0..rows {
        let ms = 1000 * t as u64 + offset_ms;
        text += &format!(
            "2026-05-01T{:02}:{:02}:{:02}.{:03}Z,{:.4}\n",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000,
            f(t)
        );
    }
    std::fs::write(path, text).unwrap();
}

/// The line of `text` that starts with `pipeline <sub>`, run by `sh` in
/// `dir` with this build's binary for `pipeline`.
fn run_printed(text: &str, sub: &str, dir: &Path, extra: &str) -> Output {
    let at = text
        .find(&format!("pipeline {sub} "))
        .unwrap_or_else(|| panic!("{text}"));
    let line = text[at..].lines().next().unwrap();
    std::process::Command::new("sh")
        .current_dir(dir)
        .args(["-c", &format!("{line} {extra}")])
        .env("PATH", {
            let bin = Path::new(env!("CARGO_BIN_EXE_pipeline")).parent().unwrap();
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            )
        })
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn two_loggers_files_are_joined_by_the_command_printed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("in.csv"), dir.path().join("out.csv"));
    logger(&a, "s3", 0, 1200, input_at);
    // The output's logger 300 ms behind, started 100 s later.
    logger(&b, "S7", 100_300, 1100, |t| output_at(t + 100));
    let out = pipeline()
        .current_dir(dir.path())
        .args(["retrain", "--data", "in.csv", "--data", "out.csv"])
        .args(["--input", "s3", "--output", "S7", "--time-column", "time"])
        .args(["--steps", "1", "--out", "m.safetensors"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"S7\" is a column of out.csv"), "{err}");
    let joined = run_printed(&err, "join", dir.path(), "");
    ok(&joined);
    let said = String::from_utf8_lossy(&joined.stderr);
    assert!(
        said.contains("joined on the output's clock: 1100 rows, each with the input's latest value, 300 ms older"),
        "{said}"
    );
    // Each row: the output's stamp and value, the input's latest before it.
    let text = std::fs::read_to_string(dir.path().join("joined.csv")).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "time,s3,S7");
    assert_eq!(rows.len(), 1101);
    let cells: Vec<&str> = rows[501].split(',').collect();
    assert_eq!(cells[0], "2026-05-01T00:10:00.300Z");
    assert_eq!(
        cells[1].parse::<f32>().unwrap(),
        format!("{:.4}", input_at(600)).parse::<f32>().unwrap()
    );
    assert_eq!(
        cells[2].parse::<f32>().unwrap(),
        format!("{:.4}", output_at(600)).parse::<f32>().unwrap()
    );
    let trained = run_printed(&said, "retrain", dir.path(), "--steps 5 --hidden 8");
    ok(&trained);
    let stdout = String::from_utf8_lossy(&trained.stdout);
    assert!(stdout.contains("joined.csv: 1100 rows"), "{stdout}");
    assert!(dir.path().join("joined.safetensors").exists());
}

/// A logger's file every second beside another's every 3 s: the joined
/// file's first line says the clock the input was held on, the `retrain`
/// printed records it, and the model says `serve` reads its input on it
/// (`info`); the `serve` printed needs no flags for it.
#[test]
fn a_file_joined_at_another_rate_gives_its_model_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("in.csv"), dir.path().join("out.csv"));
    logger(&a, "s3", 0, 1200, input_at);
    let mut text = String::from("time,S7\n");
    for k in 0..390u64 {
        let ms = 3000 * k + 500;
        text += &format!(
            "2026-05-01T00:{:02}:{:02}.{:03}Z,{:.4}\n",
            ms / 60_000,
            ms / 1000 % 60,
            ms % 1000,
            output_at(k as usize)
        );
    }
    std::fs::write(&b, text).unwrap();
    let joined = pipeline()
        .current_dir(dir.path())
        .args([
            "join", "--data", "in.csv", "--data", "out.csv", "--input", "s3",
        ])
        .args([
            "--output",
            "S7",
            "--time-column",
            "time",
            "--out",
            "joined.csv",
        ])
        .output()
        .unwrap();
    ok(&joined);
    let said = String::from_utf8_lossy(&joined.stderr);
    assert!(
        said.contains("and serve it with the command below; it reads its input on the output's clock, which the model records from the joined file's first line (--resample 3s --max-gap 4500ms, its ticks 500 ms into each step as the output's rows;"),
        "{said}"
    );
    let serve_line = said.lines().last().unwrap().trim();
    assert_eq!(serve_line, "pipeline serve --model joined.safetensors");
    let text = std::fs::read_to_string(dir.path().join("joined.csv")).unwrap();
    assert!(
        text.starts_with("# pipeline join: the input came every 1 s and the output every 3 s"),
        "{text:.300}"
    );
    let trained = run_printed(&said, "retrain", dir.path(), "--steps 5 --hidden 8");
    ok(&trained);
    let err = String::from_utf8_lossy(&trained.stderr);
    assert!(
        err.contains(
            "the model records it, and serve reads its input so (--resample 3s --max-gap 4500ms)"
        ),
        "{err}"
    );
    let info = pipeline()
        .current_dir(dir.path())
        .args(["info", "--model", "joined.safetensors"])
        .output()
        .unwrap();
    ok(&info);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["serve"]["resample_s"].as_f64(), Some(3.0), "{info}");
    assert_eq!(
        info["metrics"]["joined"],
        serde_json::json!({"resample_s": 3.0, "max_gap_s": 4.5, "phase_s": 0.5})
    );
}
