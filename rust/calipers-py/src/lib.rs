//! The `calipers._core` extension module: thin PyO3 wrappers over calipers-core.
//!
//! One file per capability; each exposes `register(m)` adding its functions to the module.
//! Python (`python/calipers/`) owns names, defaults, docs and validation; these wrappers take
//! contiguous arrays and plain scalars, release the GIL for the work, and map errors.

mod arrays;
mod detach;
mod dominance;
mod errors;
mod fairness;
mod geometry;
mod irt;
mod judge;
mod knn;
mod ot;
mod prompts;
mod resample;
mod route;
mod scaling;
mod threads;
mod tiny;
mod weak;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    threads::register(m)?;
    ot::register(m)?;
    resample::register(m)?;
    dominance::register(m)?;
    fairness::register(m)?;
    irt::register(m)?;
    geometry::register(m)?;
    tiny::register(m)?;
    weak::register(m)?;
    knn::register(m)?;
    route::register(m)?;
    prompts::register(m)?;
    scaling::register(m)?;
    judge::register(m)?;
    scaling::register_random(m)?;
    Ok(())
}
