//! Error text for a one-line message.

/// `text` made fit for a one-line error message: trimmed, and any control
/// character left inside (a newline in a key a user wrote, say) escaped as
/// `\n`, `\r`, `\u{..}`.
pub fn one_line(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn trims_and_escapes_control_characters() {
        assert_eq!(one_line("ends in a newline\n"), "ends in a newline");
        assert_eq!(one_line("key `a\nb`\tc\r"), "key `a\\nb`\\tc");
        assert_eq!(one_line("plain"), "plain");
    }
}
