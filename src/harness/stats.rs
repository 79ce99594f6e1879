//! Medians, ranges and paired ratios.

/// Median of `v` (mean of the middle two for even lengths); `None` if empty.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}

/// (min, max) of `v`.
pub fn range(v: &[f64]) -> Option<(f64, f64)> {
    let s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    let min = s.iter().copied().reduce(f64::min)?;
    let max = s.iter().copied().reduce(f64::max)?;
    Some((min, max))
}

/// Median over repetitions of `ours[i] / theirs[i]` for the repetitions
/// where both are present: each pair ran back to back, so machine swings
/// cancel out.
pub fn paired_ratio(ours: &[Option<f64>], theirs: &[Option<f64>]) -> Option<f64> {
    let ratios: Vec<f64> = ours
        .iter()
        .zip(theirs)
        .filter_map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) if *b > 0.0 => Some(a / b),
            _ => None,
        })
        .collect();
    median(&ratios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(range(&[2.0, 5.0, 1.0]), Some((1.0, 5.0)));
        // Pairs (10/5, 8/8, 30/10): median 2.0; a missing pair is skipped.
        let r = paired_ratio(
            &[Some(10.0), Some(8.0), Some(30.0), None],
            &[Some(5.0), Some(8.0), Some(10.0), Some(1.0)],
        );
        assert_eq!(r, Some(2.0));
    }
}
