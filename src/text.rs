//! Untrusted text in messages: what a registry, a file or a flag said, quoted safely. The lowest
//! module of the crate (it imports nothing from it), so `digest`, `reference` and every other
//! module can use it.

/// Shortens untrusted input for error messages (at most 80 characters, control characters escaped).
#[must_use]
pub fn shorten(input: &str) -> String {
    let mut out: String = input
        .chars()
        .take(80)
        .flat_map(char::escape_default)
        .collect();
    if input.chars().count() > 80 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_and_escapes() {
        assert_eq!(shorten("a\nb"), "a\\nb");
        let long = "x".repeat(100);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), 81);
        assert!(short.ends_with('…'));
        assert_eq!(shorten(&"y".repeat(80)), "y".repeat(80));
    }
}
