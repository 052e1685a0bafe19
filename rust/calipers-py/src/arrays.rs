//! Small helpers for borrowing numpy arrays as slices (shared by every capability).

use numpy::{PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// (rows, cols) of a 2-D array.
pub fn shape2<T: numpy::Element>(a: &PyReadonlyArray2<'_, T>) -> (usize, usize) {
    let s = a.shape();
    (s[0], s[1])
}

/// Splits a C-contiguous 2-D array into row slices (the Python layer makes arrays contiguous).
pub fn rows<'a, T: numpy::Element>(a: &'a PyReadonlyArray2<'_, T>) -> PyResult<Vec<&'a [T]>> {
    let (n_rows, n_cols) = shape2(a);
    let flat = a.as_slice()?;
    Ok(if n_cols == 0 {
        vec![&flat[..0]; n_rows]
    } else {
        flat.chunks(n_cols).collect()
    })
}
