//! Python values into core types: keyword options into a `Config` (through `Config::set`, the
//! string path every binding shares) and call arguments into a `Request` (through
//! `Request::set`). Every error names the keyword, header or argument at fault.

use std::borrow::Cow;

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use tailrace::{Config, Request};

use crate::errors::{raise_class, to_pyerr, type_error};

/// Options whose string form is a comma-separated list, so a Python list is accepted for them.
const LIST_OPTIONS: &[&str] = &["hosts", "retry_on_status"];

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// `value` (a str) as Rust text; a lone surrogate (from `os.environ` or a file name, say),
/// which no request can carry, is `class` (`InvalidRequest` or `InvalidOption`) naming `what`.
/// Borrowed where Python's UTF-8 form allows it (header names and values are only read).
fn str_text<'a>(value: &'a Bound<'_, PyString>, class: &str, what: &str) -> PyResult<Cow<'a, str>> {
    match value.to_cow() {
        Ok(s) => Ok(s),
        Err(e) => Err(raise_class(
            value.py(),
            class,
            &format!("{what} is not valid text: {}", e.value(value.py())),
        )),
    }
}

/// A str argument as Rust text: `TypeError` if it is not a str, `InvalidRequest` naming it if
/// it holds a lone surrogate.
pub(crate) fn text(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    let s = value
        .cast::<PyString>()
        .map_err(|_| type_error(format!("{what} must be str, not {}", type_name(value))))?;
    Ok(str_text(s, "InvalidRequest", what)?.into_owned())
}

/// An int-like option value (an int, or anything with `__index__`, a numpy integer say) as text.
fn index_string(value: &Bound<'_, PyAny>) -> PyResult<String> {
    let index = value.py().import("operator")?.getattr("index")?;
    Ok(index.call1((value,))?.str()?.to_string())
}

fn is_int_like(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(value.is_instance_of::<PyInt>() || value.hasattr("__index__")?)
}

/// One option value in the string form `Config::set` takes.
fn option_string(name: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    let what = format!("option `{name}`");
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(str_text(s, "InvalidOption", &what)?.into_owned());
    }
    if LIST_OPTIONS.contains(&name)
        && (value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>())
    {
        return list_string(name, value);
    }
    // `hosts` is URLs: a number there is a mistake of type, not of value.
    if name != "hosts" {
        // bool before int: a Python bool is an int.
        if let Ok(b) = value.cast::<PyBool>() {
            return Ok(if b.is_true() { "true" } else { "false" }.into());
        }
        // Numbers: exact ints and floats, and anything that says it is one (`__index__`,
        // `__float__`: numpy scalars, Decimal, ...), without depending on where it comes from.
        if is_int_like(value)? {
            return index_string(value);
        }
        if value.is_instance_of::<PyFloat>() || value.hasattr("__float__")? {
            let f: f64 = value.extract()?;
            return Ok(PyFloat::new(value.py(), f).str()?.to_string());
        }
        // Paths (`ca_file`): anything os.fspath accepts.
        if value.hasattr("__fspath__")? {
            let p = value.call_method0("__fspath__")?;
            if let Ok(s) = p.cast::<PyString>() {
                return Ok(str_text(s, "InvalidOption", &what)?.into_owned());
            }
        }
    }
    Err(type_error(format!(
        "option `{name}` must be {}, not {}",
        if name == "hosts" {
            "a list of str or a comma-separated str"
        } else if LIST_OPTIONS.contains(&name) {
            "a list or a comma-separated str"
        } else {
            "int, float, bool or str"
        },
        type_name(value)
    )))
}

/// A list option (`hosts`, `retry_on_status`) as the comma-separated string the core takes.
fn list_string(name: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    let mut parts = Vec::new();
    for (i, item) in value.try_iter()?.enumerate() {
        let item = item?;
        let s = if let Ok(s) = item.cast::<PyString>() {
            str_text(s, "InvalidOption", &format!("option `{name}`: item {i}"))?.into_owned()
        } else if name != "hosts" && !item.is_instance_of::<PyBool>() && is_int_like(&item)? {
            index_string(&item)?
        } else {
            return Err(type_error(format!(
                "option `{name}`: item {i} must be {}, not {}",
                if name == "hosts" { "str" } else { "int or str" },
                type_name(&item)
            )));
        };
        if s.contains(',') {
            return Err(raise_class(
                value.py(),
                "InvalidOption",
                &format!("option `{name}`: item {i} `{s}` contains a comma"),
            ));
        }
        parts.push(s);
    }
    Ok(parts.join(","))
}

/// Keyword options into a checked `Config`; `None` values keep the default.
pub(crate) fn config(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Config> {
    let mut config = Config::default();
    if let Some(options) = options {
        for (name, value) in options.iter() {
            let name = match name.cast::<PyString>() {
                Ok(n) => str_text(n, "InvalidOption", "an option name")?.into_owned(),
                Err(_) => return Err(type_error("option names must be str")),
            };
            if value.is_none() {
                continue;
            }
            let s = option_string(&name, &value)?;
            config.set(&name, &s).map_err(|e| to_pyerr(py, &e))?;
        }
    }
    Ok(config)
}

/// The per-call fields, as the signature of every call method takes them (checked text).
#[derive(Debug, Default)]
pub(crate) struct CallFields {
    pub(crate) order_key: Option<String>,
    pub(crate) flush: bool,
    pub(crate) limit_key: Option<String>,
    pub(crate) idempotent: Option<bool>,
    pub(crate) timeout_ms: Option<i64>,
}

/// The arguments of every call method, as Python passed them (`Client.request`,
/// `AsyncClient._start`, `Request(...)`). str arguments are taken as objects and checked here, so
/// a lone surrogate is `InvalidRequest` naming the argument rather than pyo3's
/// `UnicodeEncodeError`.
pub(crate) struct CallArgs<'a, 'py> {
    pub(crate) method: &'a Bound<'py, PyAny>,
    pub(crate) url: &'a Bound<'py, PyAny>,
    pub(crate) headers: Option<&'a Bound<'py, PyAny>>,
    pub(crate) content: Option<&'a Bound<'py, PyAny>>,
    pub(crate) order_key: Option<&'a Bound<'py, PyAny>>,
    pub(crate) flush: bool,
    pub(crate) limit_key: Option<&'a Bound<'py, PyAny>>,
    pub(crate) idempotent: Option<bool>,
    pub(crate) timeout_ms: Option<i64>,
}

/// A core request built from call arguments, with the method and fields as checked.
pub(crate) struct Built {
    pub(crate) req: Request,
    /// The method as given, upper-cased (the core keeps GET for one it cannot parse).
    pub(crate) method: String,
    pub(crate) fields: CallFields,
}

/// Build a core request from call arguments; type errors are `TypeError`, bad values
/// (a CR/LF in a header, a negative timeout, a lone surrogate) are `InvalidRequest`, each naming
/// the argument. The method is upper-cased, as requests and httpx do: `"get"` is GET (and so
/// idempotent and hedged).
pub(crate) fn request(py: Python<'_>, a: &CallArgs<'_, '_>) -> PyResult<Built> {
    let method = text(a.method, "the method")?.to_ascii_uppercase();
    let url = text(a.url, "the url")?;
    let key = |v: Option<&Bound<'_, PyAny>>, what: &str| v.map(|v| text(v, what)).transpose();
    let fields = CallFields {
        order_key: key(a.order_key, "order_key")?,
        flush: a.flush,
        limit_key: key(a.limit_key, "limit_key")?,
        idempotent: a.idempotent,
        timeout_ms: a.timeout_ms,
    };
    let mut req = Request::new(&method, url);
    if let Some(h) = a.headers {
        add_headers(py, &mut req, h)?;
    }
    if let Some(c) = a.content {
        req = req.body(body(c)?);
    }
    let mut set = |name: &str, value: &str| req.set(name, value).map_err(|e| to_pyerr(py, &e));
    if let Some(k) = &fields.order_key {
        set("order_key", k)?;
    }
    if fields.flush {
        set("flush", "true")?;
    }
    if let Some(k) = &fields.limit_key {
        set("limit_key", k)?;
    }
    if let Some(i) = fields.idempotent {
        set("idempotent", if i { "true" } else { "false" })?;
    }
    if let Some(t) = fields.timeout_ms {
        set("timeout_ms", &t.to_string())?;
    }
    Ok(Built {
        req,
        method,
        fields,
    })
}

fn add_headers(py: Python<'_>, req: &mut Request, headers: &Bound<'_, PyAny>) -> PyResult<()> {
    let pairs = if let Ok(d) = headers.cast::<PyDict>() {
        d.items().into_any()
    } else if headers.hasattr("items")? {
        headers.call_method0("items")?
    } else if headers.is_instance_of::<PyList>() || headers.is_instance_of::<PyTuple>() {
        headers.clone()
    } else {
        return Err(type_error(format!(
            "headers must be a dict of str to str or a list of (name, value) pairs, not {}",
            type_name(headers)
        )));
    };
    for (i, pair) in pairs.try_iter()?.enumerate() {
        let pair = pair?;
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair.extract().map_err(|_| {
            type_error(format!(
                "headers item {i} must be a (name, value) pair, not {}",
                type_name(&pair)
            ))
        })?;
        let name = name.cast::<PyString>().map_err(|_| {
            type_error(format!(
                "header names must be str, not {} (headers item {i})",
                type_name(&name)
            ))
        })?;
        let name = str_text(
            name,
            "InvalidRequest",
            &format!("a header name (headers item {i})"),
        )?;
        let value = value.cast::<PyString>().map_err(|_| {
            type_error(format!(
                "the value of header `{name}` must be str, not {}",
                type_name(&value)
            ))
        })?;
        let value = str_text(
            value,
            "InvalidRequest",
            &format!("the value of header `{name}`"),
        )?;
        req.try_header(&name, value.as_bytes())
            .map_err(|e| to_pyerr(py, &e))?;
    }
    Ok(())
}

/// The body, copied once into `Bytes` (every attempt of a hedged call replays it).
fn body(content: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = content.cast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    if let Ok(b) = content.cast::<PyByteArray>() {
        return Ok(Bytes::from(b.to_vec()));
    }
    if let Ok(s) = content.cast::<PyString>() {
        return Ok(Bytes::from(
            str_text(s, "InvalidRequest", "content")?.into_owned(),
        ));
    }
    Err(type_error(format!(
        "content must be bytes, bytearray or str, not {}",
        type_name(content)
    )))
}
