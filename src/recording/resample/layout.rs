//! How the regular text a reading on a clock makes is read again: in its
//! own layout, with the units of its columns.

use super::Resampled;
use crate::recording::options::{Column, CsvOptions};

impl Resampled {
    /// How the regular text is read: in its own layout (time, then the
    /// channels, by position; `,` and `.`; its empty cells skipped), the
    /// rest as given; and the cells of its columns in a units row.
    pub fn reading(
        &self,
        opts: &CsvOptions,
        units: Option<Vec<String>>,
    ) -> (CsvOptions, Option<Vec<String>>) {
        let first = 1 + usize::from(self.streams);
        let own = CsvOptions {
            input: Column::Index(first),
            output: Column::Index(if self.one { first } else { first + 1 }),
            stream: self.streams.then_some(Column::Index(1)),
            delimiter: Some(b','),
            decimal: Some(crate::recording::Decimal::Point),
            time: vec![Column::Index(0)],
            skip_lines: 0,
            skip_bad_rows: true,
            missing: Vec::new(),
            every: None,
            names: None,
            ..opts.clone()
        };
        let units = units.zip(self.columns.as_ref()).map(|(u, cols)| {
            cols.iter()
                .map(|&c| u.get(c).cloned().unwrap_or_default())
                .collect()
        });
        // Units said by the rows: the text's columns' (time, stream, then
        // the channels).
        let said = self.row_units.as_ref().map(|[a, b]| {
            let mut u = vec![String::new(); first];
            u.push(a.clone());
            if !self.one {
                u.push(b.clone());
            }
            u
        });
        (own, said.or(units))
    }
}
