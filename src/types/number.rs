//! Numbers as a person reads them at 3 a.m.: `1,234,567` matches, `1234.6` ms, `0.0123`.

/// Significant digits kept after the decimal point of a fractional number.
const SIGNIFICANT: i32 = 4;

/// An integer count with thousands separators: `12,345`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A measured value rounded to about four significant digits, never dropping integer
/// digits, in exponent form only past 1e15 or below 1e-6: `1234.5678` → `1234.6`,
/// `3.333333` → `3.333`, `0.000123456` → `0.0001235`, `250.0` → `250`.
pub fn rounded(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32;
    if magnitude >= 15 {
        return format!("{v:e}");
    }
    if magnitude < -6 {
        return format!("{v:.3e}");
    }
    // Digits after the point: enough for SIGNIFICANT significant ones, at least one for
    // numbers ≥ 1000 that have a fraction, and none past what an f64 holds.
    let decimals = (SIGNIFICANT - 1 - magnitude).clamp(0, 15) as usize;
    let decimals = if decimals == 0 && v.fract() != 0.0 && magnitude < 6 {
        1
    } else {
        decimals
    };
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        let trimmed = text.trim_end_matches('0').trim_end_matches('.');
        if trimmed == "-0" {
            "0".into()
        } else {
            trimmed.to_string()
        }
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn rounds_to_what_matters() {
        assert_eq!(rounded(1234.5678), "1234.6");
        assert_eq!(rounded(3.333_333_3), "3.333");
        assert_eq!(rounded(0.000_123_456), "0.0001235");
        assert_eq!(rounded(250.0), "250");
        assert_eq!(rounded(-12.345_67), "-12.35");
        assert_eq!(rounded(1_500_000.25), "1500000");
        assert_eq!(rounded(0.1 + 0.2), "0.3");
        assert_eq!(rounded(0.0), "0");
        assert_eq!(rounded(f64::NAN), "NaN");
        assert_eq!(rounded(1e300), "1e300");
        assert_eq!(rounded(-1.234_56e-9), "-1.235e-9");
    }
}
