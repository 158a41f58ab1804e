//! Floats that start on a cache line.
//!
//! The fused step loads whole registers of weights, `c` and `h`. From a
//! plain `Vec<f32>` the start is wherever the allocator puts it (16 bytes
//! past a line, in practice, as often as not): then every zmm load touches
//! two lines, and which way a buffer fell changed from one process to the
//! next. A lone row, which streams its weights from L2, ran 1.27x faster
//! aligned on an Intel Xeon (`benches/kernel_ab.sh`, BENCHMARKS.md).

use std::ops::{Deref, DerefMut};

/// One cache line of f32.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

const ZERO: Line = Line([0.0; 16]);

/// `len` floats from the start of a cache line; derefs to `[f32]`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lines {
    lines: Vec<Line>,
    len: usize,
}

impl Lines {
    /// A copy of `v`.
    pub(crate) fn new(v: &[f32]) -> Self {
        let mut out = Lines::default();
        out.zeroed(v.len());
        out.copy_from_slice(v);
        out
    }

    /// Makes this `len` zeros, keeping the allocation where it suffices.
    pub(crate) fn zeroed(&mut self, len: usize) {
        self.lines.clear();
        self.lines.resize(len.div_ceil(16), ZERO);
        self.len = len;
    }
}

impl Deref for Lines {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` over `[f32; 16]` (size 64, no
        // padding), so the lines are `16 · lines.len() ≥ len` contiguous,
        // initialised f32.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast(), self.len) }
    }
}

impl DerefMut for Lines {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, borrowed uniquely through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_start_on_a_line_and_keep_their_values() {
        let v: Vec<f32> = (0..37).map(|i| i as f32).collect();
        let mut l = Lines::new(&v);
        assert_eq!(&l[..], &v[..]);
        assert_eq!(l.as_ptr() as usize % 64, 0);
        l.zeroed(5);
        assert_eq!(&l[..], &[0.0; 5]);
        l.zeroed(100);
        assert_eq!(l.len(), 100);
        assert!(l.iter().all(|&x| x == 0.0));
        assert_eq!(l.as_ptr() as usize % 64, 0);
        assert!(Lines::default().is_empty());
    }
}
