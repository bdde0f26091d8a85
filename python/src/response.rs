//! `tailrace.Response`: the answer and where it came from. The body is copied into one `bytes`
//! object on first access and kept; headers become a dict on first access.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict};

/// A complete response (the whole body has been read).
#[pyclass(module = "tailrace", frozen)]
pub(crate) struct Response {
    inner: tailrace::Response,
    content: PyOnceLock<Py<PyBytes>>,
    headers: PyOnceLock<Py<PyDict>>,
}

impl Response {
    pub(crate) fn new(inner: tailrace::Response) -> Response {
        Response {
            inner,
            content: PyOnceLock::new(),
            headers: PyOnceLock::new(),
        }
    }
}

static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

#[pymethods]
impl Response {
    /// The HTTP status code.
    #[getter]
    fn status(&self) -> u16 {
        self.inner.status().as_u16()
    }

    /// Response headers: lowercase names; repeated headers joined with ", ".
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = self.headers.get_or_try_init(py, || -> PyResult<_> {
            let d = PyDict::new(py);
            for name in self.inner.headers().keys() {
                let values: Vec<String> = self
                    .inner
                    .headers()
                    .get_all(name)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                d.set_item(name.as_str(), values.join(", "))?;
            }
            Ok(d.unbind())
        })?;
        Ok(d.bind(py).clone())
    }

    /// The body as bytes.
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.content
            .get_or_init(py, || PyBytes::new(py, self.inner.body()).unbind())
            .bind(py)
            .clone()
    }

    /// The body decoded as UTF-8 (invalid bytes replaced).
    #[getter]
    fn text(&self) -> String {
        String::from_utf8_lossy(self.inner.body()).into_owned()
    }

    /// The body parsed as JSON (`json.loads`).
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let loads = JSON_LOADS.get_or_try_init(py, || -> PyResult<_> {
            Ok(py.import("json")?.getattr("loads")?.unbind())
        })?;
        loads.bind(py).call1((self.content(py),))
    }

    /// Base URL of the host that answered.
    #[getter]
    fn host(&self) -> &str {
        self.inner.host()
    }

    /// Attempts sent for this call (1 without hedging).
    #[getter]
    fn attempts(&self) -> u32 {
        self.inner.attempts()
    }

    /// Index of the attempt whose answer this is (0 = the first).
    #[getter]
    fn winner(&self) -> u32 {
        self.inner.winner()
    }

    /// Seconds from submitting the call to the last byte of this answer, waits included.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.inner.elapsed().as_secs_f64()
    }

    /// The HTTP version of the answer: "HTTP/1.1" or "HTTP/2".
    #[getter]
    fn http_version(&self) -> &'static str {
        match self.inner.version() {
            http::Version::HTTP_09 => "HTTP/0.9",
            http::Version::HTTP_10 => "HTTP/1.0",
            http::Version::HTTP_2 => "HTTP/2",
            http::Version::HTTP_3 => "HTTP/3",
            _ => "HTTP/1.1",
        }
    }

    /// True for a status below 400.
    #[getter]
    fn ok(&self) -> bool {
        self.inner.status().as_u16() < 400
    }

    fn __repr__(&self) -> String {
        format!(
            "<Response [{}] from {} attempt {}/{}>",
            self.inner.status().as_u16(),
            self.inner.host(),
            self.inner.winner(),
            self.inner.attempts()
        )
    }
}
