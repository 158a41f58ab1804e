//! Dense f64 matrix products for the linear baseline's least squares
//! (`pipeline::baseline`), not the model's path. Its normal equations are
//! W × W: at windows in the thousands plain loops spend most of a minute
//! streaming W² accumulators through memory per training window, where the
//! `gemm` crate's blocked kernels take about a second.

/// A matrix read from a slice: `rows × cols`, element `(i, j)` at
/// `data[i * rs + j * cs]`. [`Mat::rows`] is row-major; [`Mat::t`] its
/// transpose, without copying.
#[derive(Debug, Clone, Copy)]
pub struct Mat<'a> {
    data: &'a [f64],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> Mat<'a> {
    /// `rows × cols` row-major, rows `stride` apart, from `data[0]`.
    pub fn rows(data: &'a [f64], rows: usize, cols: usize, stride: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: stride,
            cs: 1,
        }
    }

    /// The transpose.
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Whether every element lies inside `data` (arithmetic checked: a
    /// wrapped product would pass), with strides `isize` holds.
    fn in_bounds(&self) -> bool {
        let last = (self.rows.saturating_sub(1))
            .checked_mul(self.rs)
            .zip((self.cols.saturating_sub(1)).checked_mul(self.cs))
            .and_then(|(r, c)| r.checked_add(c));
        self.rs <= isize::MAX as usize
            && self.cs <= isize::MAX as usize
            && (self.rows == 0 || self.cols == 0 || last.is_some_and(|l| l < self.data.len()))
    }
}

/// `dst ← keep·dst + scale·(a · b)` (`keep` 0 or 1: overwrite or
/// accumulate), `dst` row-major `a.rows × b.cols` with rows `dst_stride`
/// apart. One thread: the caller's threads are its own to spend.
///
/// # Panics
/// When the shapes disagree or a view reaches past its slice (a bug in
/// the caller, never data).
pub fn product(dst: &mut [f64], dst_stride: usize, a: Mat, b: Mat, keep: f64, scale: f64) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k
            && a.in_bounds()
            && b.in_bounds()
            && dst_stride <= isize::MAX as usize
            && (m == 0
                || n == 0
                || (m - 1)
                    .checked_mul(dst_stride)
                    .and_then(|r| r.checked_add(n))
                    .is_some_and(|end| end <= dst.len()))
            && (m <= 1 || dst_stride >= n),
        "product operands do not match their dimensions"
    );
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the assertion bounds every access: dst is m×n with row
    // stride dst_stride (rows do not overlap), a and b stay within their
    // slices; dst is &mut, so it overlaps neither.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_stride as isize,
            keep != 0.0,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            keep,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: Mat, b: Mat) -> Vec<f64> {
        let at = |m: &Mat, i: usize, j: usize| m.data[i * m.rs + j * m.cs];
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols).map(|k| at(&a, i, k) * at(&b, k, j)).sum();
            }
        }
        out
    }

    #[test]
    fn products_of_views_agree_with_a_plain_product() {
        let data: Vec<f64> = (0..40 * 37)
            .map(|i| ((i * 7919) % 101) as f64 / 17.0 - 3.0)
            .collect();
        // A 5×6 block of a 40×37 matrix, its transpose, and another block.
        let a = Mat::rows(&data[37 * 2 + 3..], 5, 6, 37);
        let b = Mat::rows(&data[37 * 10..], 6, 9, 37);
        for (x, y) in [(a, b), (a.t().t(), b), (b.t(), a.t())] {
            let want = naive(x, y);
            let n = y.cols;
            // Into a wider buffer (stride n + 2), over old values: kept, then not.
            let mut dst = vec![1.0; x.rows * (n + 2)];
            product(&mut dst, n + 2, x, y, 1.0, -2.0);
            for i in 0..x.rows {
                for j in 0..n {
                    let got = dst[i * (n + 2) + j];
                    assert!((got - (1.0 - 2.0 * want[i * n + j])).abs() < 1e-9, "{got}");
                }
                assert_eq!(dst[i * (n + 2) + n], 1.0, "wrote outside its columns");
            }
            product(&mut dst, n + 2, x, y, 0.0, 1.0);
            assert!((dst[0] - want[0]).abs() < 1e-9);
        }
    }

    #[test]
    #[should_panic(expected = "do not match")]
    fn a_stride_that_wraps_is_refused() {
        let data = vec![0.0; 10];
        let mut dst = vec![0.0; 16];
        let wraps = Mat::rows(&data, 3, 1, 1 << 63);
        product(&mut dst, 1, wraps, Mat::rows(&data, 1, 1, 1), 0.0, 1.0);
    }

    #[test]
    #[should_panic(expected = "do not match")]
    fn a_view_past_its_slice_is_refused() {
        let data = vec![0.0; 10];
        let mut dst = vec![0.0; 16];
        product(
            &mut dst,
            4,
            Mat::rows(&data, 4, 3, 3),
            Mat::rows(&data, 3, 4, 4),
            0.0,
            1.0,
        );
    }
}
