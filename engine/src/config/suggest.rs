//! "Did you mean …?" for misspelled keys and values.
//!
//! Typos in hand-written config are mostly one or two edits (a dropped letter, swapped
//! letters, `_` for `-`), so optimal string alignment distance — which counts a transposition
//! as one edit — catches them without suggesting unrelated words. Case is ignored because
//! `OnFailure` and `Command` are clearly meant as `on-failure` and `command`.

/// The candidate closest to `word`, if any is close enough to be a plausible typo.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    // For very short words two edits can turn anything into anything.
    let max_distance = if word.chars().count() <= 3 { 1 } else { 2 };
    candidates
        .iter()
        .map(|&c| (strsim::osa_distance(&word, &c.to_lowercase()), c))
        .filter(|&(d, _)| d <= max_distance)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// `` `a`, `b`, `c` `` for listing the valid choices in a fix.
pub(crate) fn list(candidates: &[&str]) -> String {
    candidates
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &["command", "args", "env", "cwd", "stop_grace", "autostart"];

    #[test]
    fn suggests_close_words() {
        assert_eq!(closest("comand", KEYS), Some("command"));
        assert_eq!(closest("arg", KEYS), Some("args"));
        assert_eq!(closest("Command", KEYS), Some("command"));
        assert_eq!(closest("stop-grace", KEYS), Some("stop_grace"));
        assert_eq!(closest("autostrat", KEYS), Some("autostart"));
        assert_eq!(closest("prot", &["host", "port"]), Some("port"));
        assert_eq!(
            closest("OnFailure", &["always", "on-failure", "never"]),
            Some("on-failure")
        );
    }

    #[test]
    fn stays_quiet_when_nothing_is_close() {
        assert_eq!(closest("foo", KEYS), None);
        assert_eq!(
            closest("sometimes", &["always", "on-failure", "never"]),
            None
        );
        assert_eq!(closest("x", KEYS), None);
    }

    #[test]
    fn lists() {
        assert_eq!(list(&["a", "b"]), "`a`, `b`");
    }
}
