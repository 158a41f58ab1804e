//! A channel named that is not in a file given but in another: two
//! loggers' files, one channel each. The reader's "did you mean" offered
//! the closest name in the file, the other channel (air for soil); what a
//! recording is, and where the column is, is what the user needs.

/// Where a read of `path` failed for want of column `c` that another of
/// `files` names in its first lines: said, with what a recording is.
pub(super) fn note(
    c: &crate::recording::Column,
    why: &str,
    path: &std::path::Path,
    files: &[std::path::PathBuf],
) -> Option<String> {
    let crate::recording::Column::Name(name) = c else {
        return None;
    };
    if !why.contains(&format!("no column named {name:?}")) {
        return None;
    }
    let other = files.iter().filter(|f| f.as_path() != path).find(|f| {
        let head = crate::recording::file_bytes(f).unwrap_or_default();
        let head = String::from_utf8_lossy(&head[..head.len().min(8192)]).into_owned();
        head.contains(name.as_str())
    })?;
    Some(format!(
        ". {name:?} is a column of {}: each --data file is a recording of both channels, \
         the input's and the output's, on one clock; two loggers' files (one channel each) must \
         first be joined into one file on their time stamps, which pipeline does not do",
        other.display()
    ))
}

#[cfg(test)]
mod tests {
    use crate::recording::{Column, CsvOptions};

    /// Two loggers' files, one channel each: the error says where the
    /// other channel is, and what a recording is.
    #[test]
    fn a_channel_in_another_file_is_said_so() {
        let dir = tempfile::tempdir().unwrap();
        let air = dir.path().join("air.csv");
        let soil = dir.path().join("soil.csv");
        let rows = |name: &str| {
            let mut t = format!("t,{name}\n");
            for i in 0..100 {
                t += &format!("{i},{i}\n");
            }
            t
        };
        std::fs::write(&air, rows("air_temp")).unwrap();
        std::fs::write(&soil, rows("soil_temp")).unwrap();
        let csv = CsvOptions {
            input: Column::Name("air_temp".into()),
            output: Column::Name("soil_temp".into()),
            ..Default::default()
        };
        let e = crate::fit::prepare(&[air, soil.clone()], &csv, 0.2, 24)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("no column named \"soil_temp\"")
                && e.contains(&format!("\"soil_temp\" is a column of {}", soil.display()))
                && e.contains("must first be joined into one file on their time stamps"),
            "{e}"
        );
    }
}
