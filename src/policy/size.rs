//! Sizes in policies, flags and inputs (docs/architecture.md, conventions): `2GB` (powers of
//! 1000) and `2GiB` (powers of 1024) are accepted, a bare `2G` is refused because it does not say
//! which; [`format_size`] renders bytes for humans in messages.

use crate::error::{Error, Result};

/// Parses a size: a number of bytes, or a number with a unit: `B`, decimal `KB` `MB` `GB` `TB`
/// (powers of 1000) or binary `KiB` `MiB` `GiB` `TiB` (powers of 1024), case-insensitive,
/// fractions allowed (`1.5GiB`). A bare `2G` is refused: it does not say which of the two.
///
/// # Errors
/// An input error naming the text and the accepted forms.
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim();
    let bad = |why: &str| {
        Error::input(format!(
            "`{}` is not a size: {why}; expected e.g. 2GiB (binary), 2GB (decimal) or 1048576 (bytes)",
            crate::reference::shorten(text)
        ))
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad("it does not start with a number"));
    }
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "k" | "m" | "g" | "t" | "ki" | "mi" | "gi" | "ti" => {
            return Err(bad(&format!(
                "the unit `{unit}` is ambiguous (write {unit}iB for powers of 1024 or {}B for powers of 1000)",
                unit.trim_end_matches(['i', 'I'])
            )));
        }
        _ => return Err(bad(&format!("unknown unit `{unit}`"))),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.contains('.') {
        return Err(bad("the number has two decimal points"));
    }
    let overflow = || bad("it is too large");
    let whole: u64 = whole.parse().map_err(|_| overflow())?;
    let mut bytes = whole.checked_mul(multiplier).ok_or_else(overflow)?;
    if !fraction.is_empty() {
        // Exact decimal arithmetic on up to 9 fractional digits, rounded down.
        let digits = &fraction[..fraction.len().min(9)];
        let scale = 10u128.pow(u32::try_from(digits.len()).unwrap_or(9));
        let frac: u128 = digits
            .parse()
            .map_err(|_| bad("the fraction is not a number"))?;
        let extra = u64::try_from(frac * u128::from(multiplier) / scale).map_err(|_| overflow())?;
        bytes = bytes.checked_add(extra).ok_or_else(overflow)?;
    }
    Ok(bytes)
}

/// Renders bytes for humans with binary units (`1.50 GiB`), exact bytes below 1 KiB.
#[must_use]
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("2GiB", 2 << 30)]
    #[case("2GB", 2_000_000_000)]
    #[case("2 gib", 2 << 30)]
    #[case("512MiB", 512 << 20)]
    #[case("1.5GiB", 3 << 29)]
    #[case("100kb", 100_000)]
    #[case("1048576", 1 << 20)]
    #[case("10B", 10)]
    #[case("1TiB", 1 << 40)]
    fn sizes(#[case] text: &str, #[case] bytes: u64) {
        assert_eq!(parse_size(text).unwrap(), bytes);
    }

    #[rstest]
    #[case("2G", "ambiguous")]
    #[case("2g", "ambiguous")]
    #[case("2Gi", "ambiguous")]
    #[case("GiB", "does not start with a number")]
    #[case("", "does not start with a number")]
    #[case("-1GiB", "does not start with a number")]
    #[case("2 parsecs", "unknown unit")]
    #[case("99999999999999999999", "too large")]
    #[case("20000000TiB", "too large")]
    #[case("1.2.3GB", "two decimal points")]
    fn refused_sizes(#[case] text: &str, #[case] needle: &str) {
        let e = parse_size(text).unwrap_err();
        assert!(e.message.contains(needle), "{text}: {}", e.message);
        assert!(e.message.contains("2GiB"), "{}", e.message);
    }

    #[test]
    fn format_sizes() {
        assert_eq!(format_size(10), "10 B");
        assert_eq!(format_size(3 << 29), "1.50 GiB");
        assert_eq!(format_size(3_302_483), "3.15 MiB");
    }
}
