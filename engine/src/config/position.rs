//! Byte offsets → 1-based line and column, and the collector that turns positioned problems
//! into the one [`ConfigError`] a load reports.
//!
//! toml and our JSON locator report byte offsets; people and editors want line:column, with
//! columns counted in characters so a non-ASCII string earlier on the line doesn't skew them.
//! Problems are collected rather than returned at first sight because both parsers walk
//! sorted maps: reporting the earliest one in the file keeps "fix top to bottom" working.

use std::path::Path;

use super::ConfigError;

/// The 1-based `(line, column)` of byte `offset` in `text`. Offsets past the end (or inside a
/// multi-byte character) are clamped to the nearest preceding character boundary.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    // A CR of a CRLF line ending is not a column anyone can see.
    let column = before[line_start..].trim_end_matches('\r').chars().count() + 1;
    (line, column)
}

/// Problems found while walking a document, positioned by byte offset until reported.
#[derive(Default)]
pub(crate) struct Problems {
    list: Vec<(usize, String, String)>,
}

impl Problems {
    pub(crate) fn report(
        &mut self,
        offset: usize,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.list.push((offset, problem.into(), fix.into()));
    }

    /// The earliest problem in the file, if any.
    pub(crate) fn first(self, file: &Path, text: &str) -> Option<ConfigError> {
        self.list
            .into_iter()
            .min_by_key(|(offset, _, _)| *offset)
            .map(|(offset, problem, fix)| ConfigError::at(file, text, offset, problem, fix))
    }
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn converts_offsets() {
        let text = "ab\ncd\r\né = 1\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 1), (1, 2));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 5), (2, 3));
        // 'é' is two bytes but one column: the '=' after "é " is column 3.
        assert_eq!(line_col(text, 10), (3, 3));
        assert_eq!(line_col(text, 9), (3, 2));
        assert_eq!(line_col(text, 1000), (4, 1));
        assert_eq!(line_col("", 0), (1, 1));
    }
}
