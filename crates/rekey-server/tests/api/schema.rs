//! A validator for the subset of JSON Schema the OpenAPI document uses (types, nullable types,
//! `$ref`, `oneOf`/`anyOf`/`allOf`, properties, required, items, enums). Strict about objects:
//! a property the schema does not declare is an error, so the document has to describe the
//! real shape, not a loose superset.

use serde_json::{Map, Value};

/// The schema of `method path`'s answer with `status`, if the document declares a JSON one.
pub fn response_schema<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> Option<&'a Value> {
    doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]["schema"].as_object()?;
    Some(&doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]["schema"])
}

/// Problems of `value` against `schema`, each with its JSON path.
pub fn check(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    walk(doc, schema, value, "$", &mut problems);
    problems
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn walk(doc: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if schema.get("allOf").is_some() {
        let merged = merge_all_of(doc, schema);
        return walk(doc, &merged, value, at, problems);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            if !options.iter().any(|o| check(doc, o, value).is_empty()) {
                problems.push(format!("{at}: {value} matches none of {key} {options:?}"));
            }
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            problems.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.iter().any(|t| is_type(value, t)) {
            problems.push(format!("{at}: {value} is not of type {types:?}"));
            return;
        }
    }
    match value {
        Value::Object(obj) if schema.get("properties").is_some() || schema.get("additionalProperties").is_some() => {
            object(doc, schema, obj, at, problems);
        }
        Value::Object(obj) if schema.get("type").and_then(Value::as_str) == Some("object") && !obj.is_empty() => {
            problems.push(format!("{at}: an object with properties the schema does not declare"));
        }
        Value::Array(items) => {
            if let Some(prefix) = schema.get("prefixItems").and_then(Value::as_array) {
                for (i, (s, v)) in prefix.iter().zip(items).enumerate() {
                    walk(doc, s, v, &format!("{at}[{i}]"), problems);
                }
            } else if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(doc, s, v, &format!("{at}[{i}]"), problems);
                }
            }
        }
        _ => {}
    }
}

fn object(doc: &Value, schema: &Value, obj: &Map<String, Value>, at: &str, problems: &mut Vec<String>) {
    let empty = Map::new();
    let props = schema.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    for name in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if !obj.contains_key(name) {
            problems.push(format!("{at}: required property {name} is missing"));
        }
    }
    for (k, v) in obj {
        match (props.get(k), schema.get("additionalProperties")) {
            (Some(s), _) => walk(doc, s, v, &format!("{at}.{k}"), problems),
            (None, Some(Value::Bool(true))) => {}
            (None, Some(extra @ Value::Object(_))) => walk(doc, extra, v, &format!("{at}.{k}"), problems),
            (None, _) => problems.push(format!("{at}: property {k} is not in the schema")),
        }
    }
}

fn merge_all_of(doc: &Value, schema: &Value) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let part = resolve(doc, part);
        let part = if part.get("allOf").is_some() { merge_all_of(doc, part) } else { part.clone() };
        if let Some(p) = part.get("properties").and_then(Value::as_object) {
            props.extend(p.clone());
        }
        required.extend(part.get("required").and_then(Value::as_array).cloned().unwrap_or_default());
    }
    serde_json::json!({ "type": "object", "properties": props, "required": required })
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}
