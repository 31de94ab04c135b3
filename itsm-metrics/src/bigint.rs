//! A minimal signed arbitrary-precision integer, enough for exact comparisons of
//! rationals (products of a few 64- to 128-bit factors). Private to the crate.

use std::cmp::Ordering;

/// A signed integer of any size: sign and little-endian base-2^64 magnitude
/// without trailing zero limbs. Zero is an empty magnitude and never negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BigInt {
    negative: bool,
    magnitude: Vec<u64>,
}

impl BigInt {
    /// Zero.
    pub(crate) fn zero() -> Self {
        BigInt { negative: false, magnitude: Vec::new() }
    }

    /// From an unsigned 128-bit integer.
    pub(crate) fn from_u128(value: u128) -> Self {
        let mut magnitude = vec![value as u64, (value >> 64) as u64];
        trim(&mut magnitude);
        BigInt { negative: false, magnitude }
    }

    /// From a signed 128-bit integer.
    pub(crate) fn from_i128(value: i128) -> Self {
        let mut out = BigInt::from_u128(value.unsigned_abs());
        out.negative = value < 0 && !out.magnitude.is_empty();
        out
    }

    /// `10^exp`.
    pub(crate) fn pow10(exp: u32) -> Self {
        let mut out = BigInt::from_u128(1);
        let mut left = exp;
        while left > 0 {
            let step = left.min(38);
            out = out.mul(&BigInt::from_u128(10u128.pow(step)));
            left -= step;
        }
        out
    }

    /// The product.
    pub(crate) fn mul(&self, other: &BigInt) -> BigInt {
        if self.magnitude.is_empty() || other.magnitude.is_empty() {
            return BigInt::zero();
        }
        let mut out = vec![0u64; self.magnitude.len() + other.magnitude.len()];
        for (i, &a) in self.magnitude.iter().enumerate() {
            let mut carry: u128 = 0;
            for (j, &b) in other.magnitude.iter().enumerate() {
                let cur = u128::from(out[i + j]) + u128::from(a) * u128::from(b) + carry;
                out[i + j] = cur as u64;
                carry = cur >> 64;
            }
            let mut k = i + other.magnitude.len();
            while carry > 0 && k < out.len() {
                let cur = u128::from(out[k]) + carry;
                out[k] = cur as u64;
                carry = cur >> 64;
                k += 1;
            }
        }
        trim(&mut out);
        BigInt { negative: self.negative != other.negative, magnitude: out }
    }

    /// The sum.
    pub(crate) fn add(&self, other: &BigInt) -> BigInt {
        if self.negative == other.negative {
            return BigInt { negative: self.negative, magnitude: add_mag(&self.magnitude, &other.magnitude) };
        }
        match cmp_mag(&self.magnitude, &other.magnitude) {
            Ordering::Equal => BigInt::zero(),
            Ordering::Greater => {
                BigInt { negative: self.negative, magnitude: sub_mag(&self.magnitude, &other.magnitude) }
            }
            Ordering::Less => {
                BigInt { negative: other.negative, magnitude: sub_mag(&other.magnitude, &self.magnitude) }
            }
        }
    }

    /// The difference `self - other`.
    pub(crate) fn sub(&self, other: &BigInt) -> BigInt {
        let mut negated = other.clone();
        negated.negative = !negated.negative && !negated.magnitude.is_empty();
        self.add(&negated)
    }

    /// An approximation as a float (infinite when too large).
    pub(crate) fn to_f64(&self) -> f64 {
        let mut acc = 0.0f64;
        for &limb in self.magnitude.iter().rev() {
            acc = acc * 18_446_744_073_709_551_616.0 + limb as f64;
        }
        if self.negative { -acc } else { acc }
    }

    /// The sign as an ordering against zero.
    pub(crate) fn signum(&self) -> Ordering {
        if self.magnitude.is_empty() {
            Ordering::Equal
        } else if self.negative {
            Ordering::Less
        } else {
            Ordering::Greater
        }
    }
}

impl PartialOrd for BigInt {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BigInt {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => cmp_mag(&self.magnitude, &other.magnitude),
            (true, true) => cmp_mag(&other.magnitude, &self.magnitude),
        }
    }
}

fn trim(limbs: &mut Vec<u64>) {
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
}

fn cmp_mag(a: &[u64], b: &[u64]) -> Ordering {
    if a.len() != b.len() {
        return a.len().cmp(&b.len());
    }
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        match x.cmp(y) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

fn add_mag(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(long.len() + 1);
    let mut carry = 0u128;
    for (i, &x) in long.iter().enumerate() {
        let y = short.get(i).copied().unwrap_or(0);
        let cur = u128::from(x) + u128::from(y) + carry;
        out.push(cur as u64);
        carry = cur >> 64;
    }
    if carry > 0 {
        out.push(carry as u64);
    }
    trim(&mut out);
    out
}

/// `a - b` for `a >= b`.
fn sub_mag(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0u64;
    for (i, &x) in a.iter().enumerate() {
        let y = b.get(i).copied().unwrap_or(0);
        let (d1, o1) = x.overflowing_sub(y);
        let (d2, o2) = d1.overflowing_sub(borrow);
        out.push(d2);
        borrow = u64::from(o1 || o2);
    }
    trim(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_matches_i128_where_it_fits() {
        let values: [i128; 9] = [0, 1, -1, 7, -13, 1 << 70, -(1 << 90), i64::MAX as i128, u64::MAX as i128];
        for &a in &values {
            for &b in &values {
                let (x, y) = (BigInt::from_i128(a), BigInt::from_i128(b));
                assert_eq!(x.add(&y), BigInt::from_i128(a + b), "{a} + {b}");
                assert_eq!(x.sub(&y), BigInt::from_i128(a - b), "{a} - {b}");
                assert_eq!(x.cmp(&y), a.cmp(&b), "{a} cmp {b}");
                if let Some(p) = a.checked_mul(b) {
                    assert_eq!(x.mul(&y), BigInt::from_i128(p), "{a} * {b}");
                }
            }
        }
    }

    #[test]
    fn large_products_compare_correctly() {
        let a = BigInt::from_u128(u128::MAX);
        let sq = a.mul(&a);
        let sq_plus = sq.add(&BigInt::from_u128(1));
        assert!(sq_plus > sq);
        assert_eq!(sq_plus.sub(&sq), BigInt::from_u128(1));
        assert_eq!(BigInt::pow10(40), BigInt::pow10(20).mul(&BigInt::pow10(20)));
        assert_eq!(BigInt::pow10(3), BigInt::from_u128(1000));
    }
}
