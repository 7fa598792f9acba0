//! The values a sweep runs over: `a,b,c` or `lo:hi:step`, kept as written so a point's
//! YAML value is exactly what the user typed.

/// Why a sweep's values cannot be used.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ValuesError {
    /// An empty value list.
    #[error("give at least one value")]
    Empty,
    /// A range that is not three numbers.
    #[error("{0}: expected lo:hi:step numbers")]
    RangeShape(String),
    /// A range that is empty, backwards or too long.
    #[error("{0}: need step > 0, hi >= lo and at most 1000 points")]
    RangeBounds(String),
    /// Both or neither of a list and a range.
    #[error("give exactly one of a value list or a lo:hi:step range")]
    ListOrRange,
    /// A value that must be a number and is not.
    #[error("`{0}` is not a number")]
    NotANumber(String),
    /// An accumulating sweep whose values do not rise.
    #[error("values must rise when state accumulates: `{0}` follows a value at least as large")]
    NotRising(String),
    /// An accumulating sweep of a field other than the fleet's size.
    #[error("state accumulate only applies to fleet.clusters, not {0}")]
    AccumulateField(String),
}

/// Parses a comma-separated list or a `lo:hi:step` range (exactly one of them).
pub fn parse(list: Option<&str>, range: Option<&str>) -> Result<Vec<String>, ValuesError> {
    match (list, range) {
        (Some(l), None) => {
            let v: Vec<String> = l
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if v.is_empty() {
                return Err(ValuesError::Empty);
            }
            Ok(v)
        }
        (None, Some(r)) => {
            let parts: Vec<f64> = r
                .split(':')
                .map(|p| p.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| ValuesError::RangeShape(r.into()))?;
            let [lo, hi, step] = parts[..] else {
                return Err(ValuesError::RangeShape(r.into()));
            };
            if !(step > 0.0 && hi >= lo) || (hi - lo) / step > 1000.0 {
                return Err(ValuesError::RangeBounds(r.into()));
            }
            let n = ((hi - lo) / step + 1e-9).floor() as usize;
            let integral = [lo, hi, step].iter().all(|x| x.fract() == 0.0);
            Ok((0..=n)
                .map(|i| lo + step * i as f64)
                .map(|x| {
                    if integral {
                        format!("{}", x as i64)
                    } else {
                        format!("{x}")
                    }
                })
                .collect())
        }
        _ => Err(ValuesError::ListOrRange),
    }
}

/// Checks that numeric values rise strictly (an accumulating sweep only adds clusters).
pub fn ascending(values: &[String]) -> Result<(), ValuesError> {
    let mut prev: Option<f64> = None;
    for v in values {
        let x: f64 = v.parse().map_err(|_| ValuesError::NotANumber(v.clone()))?;
        if prev.is_some_and(|p| x <= p) {
            return Err(ValuesError::NotRising(v.clone()));
        }
        prev = Some(x);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_lists_and_ranges() {
        assert_eq!(parse(Some("1, 2,3"), None).unwrap(), ["1", "2", "3"]);
        assert_eq!(
            parse(None, Some("100:500:100")).unwrap(),
            ["100", "200", "300", "400", "500"]
        );
        assert_eq!(
            parse(None, Some("0.5:1.5:0.5")).unwrap(),
            ["0.5", "1", "1.5"]
        );
        assert!(parse(None, Some("5:1:1")).is_err());
        assert!(parse(None, Some("1:2")).is_err());
        assert!(parse(None, None).is_err());
        assert!(parse(Some(""), None).is_err());
    }

    #[test]
    fn accumulating_values_must_rise() {
        assert!(ascending(&["100".into(), "200".into()]).is_ok());
        assert!(ascending(&["200".into(), "200".into()]).is_err());
        assert!(ascending(&["300".into(), "200".into()]).is_err());
        assert!(ascending(&["x".into()]).is_err());
    }
}
