//! `tailrace._native`: the extension module inside the `tailrace` package. It registers the
//! classes and nothing else; `tailrace/__init__.py` re-exports them with the Python-side helpers.
//!
//! Every call runs on the core's one shared runtime (`tailrace::runtime`), which this extension
//! loads as its own copy: a process that also loads `libtailrace.so` has two runtimes.

mod asyncio;
mod client;
mod convert;
mod errors;
mod request;
mod response;
mod wait;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The interpreter's threads submit and take outcomes: the runtime leaves them a core.
    tailrace::runtime::leave_a_core_to_callers();
    m.add_class::<client::Client>()?;
    m.add_class::<client::AsyncClient>()?;
    m.add_class::<request::Request>()?;
    m.add_class::<response::Response>()?;
    m.add_class::<asyncio::Bridge>()?;
    m.add_function(wrap_pyfunction!(client::_panic_for_tests, m)?)?;
    m.add("__version__", tailrace::VERSION)?;
    Ok(())
}
