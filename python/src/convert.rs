//! Python values into core types: keyword options into a `Config` (through `Config::set`, the
//! string path every binding shares) and call arguments into a `Request` (through
//! `Request::set`). Every error names the keyword, header or argument at fault.

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

/// One option value in the string form `Config::set` takes.
fn option_string(name: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_cow()?.to_string());
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
        if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() {
            return Ok(value.str()?.to_string());
        }
        // Paths (`ca_file`): anything os.fspath accepts.
        if value.hasattr("__fspath__")? {
            let p = value.call_method0("__fspath__")?;
            if let Ok(s) = p.cast::<PyString>() {
                return Ok(s.to_cow()?.to_string());
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
        let ok = item.is_instance_of::<PyString>()
            || (name != "hosts" && item.is_instance_of::<PyInt>());
        if !ok {
            return Err(type_error(format!(
                "option `{name}`: item {i} must be {}, not {}",
                if name == "hosts" { "str" } else { "int or str" },
                type_name(&item)
            )));
        }
        let s = item.str()?.to_string();
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
            let name: String = name.extract()?;
            if value.is_none() {
                continue;
            }
            let s = option_string(&name, &value)?;
            config.set(&name, &s).map_err(|e| to_pyerr(py, &e))?;
        }
    }
    Ok(config)
}

/// The per-call fields, as the signature of every call method takes them.
#[derive(Debug, Default)]
pub(crate) struct CallFields {
    pub(crate) order_key: Option<String>,
    pub(crate) flush: bool,
    pub(crate) limit_key: Option<String>,
    pub(crate) idempotent: Option<bool>,
    pub(crate) timeout_ms: Option<i64>,
}

/// Build a core request from call arguments; type errors are `TypeError`, bad values
/// (a CR/LF in a header, a negative timeout) are `InvalidRequest`, each naming the argument.
pub(crate) fn request(
    py: Python<'_>,
    method: &str,
    url: &str,
    headers: Option<&Bound<'_, PyAny>>,
    content: Option<&Bound<'_, PyAny>>,
    fields: &CallFields,
) -> PyResult<Request> {
    let mut req = Request::new(method, url);
    if let Some(h) = headers {
        add_headers(py, &mut req, h)?;
    }
    if let Some(c) = content {
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
    Ok(req)
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
        let name = name.to_cow()?;
        let value = value.cast::<PyString>().map_err(|_| {
            type_error(format!(
                "the value of header `{name}` must be str, not {}",
                type_name(&value)
            ))
        })?;
        req.try_header(&name, value.to_cow()?.as_bytes())
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
        return Ok(Bytes::copy_from_slice(s.to_cow()?.as_bytes()));
    }
    Err(type_error(format!(
        "content must be bytes, bytearray or str, not {}",
        type_name(content)
    )))
}
