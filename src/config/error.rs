//! Config errors always say where: `file:line:col: reason`.

use std::fmt;
use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Where a value came from: a span of the file, an environment variable, or
/// the file as a whole (a missing section).
#[derive(Debug, Clone)]
pub enum At {
    Span(Range<usize>),
    Env(&'static str),
    File,
}

/// Knows the file's text so byte spans can become line:col.
pub struct Source<'a> {
    pub label: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn err(&self, at: At, reason: impl Into<String>) -> ConfigError {
        let reason = reason.into();
        match at {
            At::Span(r) => {
                let (line, col) = line_col(self.text, r.start);
                ConfigError {
                    file: self.label.to_string(),
                    line,
                    col,
                    reason,
                }
            }
            At::Env(var) => ConfigError {
                file: format!("environment variable {var}"),
                line: 0,
                col: 0,
                reason,
            },
            At::File => ConfigError {
                file: self.label.to_string(),
                line: 0,
                col: 0,
                reason,
            },
        }
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "a = 1\nbb = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 8), (2, 3));
        assert_eq!(line_col(t, 999), (3, 1));
    }
}
