//! Small helpers for borrowing numpy arrays as slices (shared by every capability).

use calipers_core::Error;
use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
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

/// Borrows a list of 1-D arrays as slices.
pub fn slices<'a>(arrays: &'a [PyReadonlyArray1<'_, f64>]) -> PyResult<Vec<&'a [f64]>> {
    arrays.iter().map(|a| Ok(a.as_slice()?)).collect()
}

/// A (rows, cols) 2-D array from a row-major vector.
pub fn matrix<'py>(
    py: Python<'py>,
    data: Vec<f64>,
    cols: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let rows = data.len().checked_div(cols).unwrap_or(0);
    PyArray1::from_vec(py, data).reshape([rows, cols])
}

/// Non-negative int64 indices from Python as `usize` (the error names `arg`).
pub fn to_usize(arg: &'static str, xs: &[i64]) -> Result<Vec<usize>, Error> {
    xs.iter()
        .map(|&v| {
            usize::try_from(v).map_err(|_| Error::invalid(arg, format!("has negative entry {v}")))
        })
        .collect()
}

/// Indices for Python (int64).
pub fn to_i64(xs: Vec<usize>) -> Vec<i64> {
    xs.into_iter().map(|v| v as i64).collect()
}
