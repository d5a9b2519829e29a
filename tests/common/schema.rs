//! A small validator for the subset of JSON Schema (OpenAPI 3.1) that the
//! generated document uses. Strict: an instance property the schema does not
//! describe is an error, so the document cannot drift from the responses.

use serde_json::Value;

pub fn validate(doc: &Value, schema: &Value, instance: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let pointer = r
            .strip_prefix('#')
            .ok_or_else(|| format!("{at}: external ref {r}"))?;
        let target = doc
            .pointer(pointer)
            .ok_or_else(|| format!("{at}: dangling ref {r}"))?;
        return validate(doc, target, instance, at);
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate(doc, s, instance, at)?;
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let matches = options
                .iter()
                .filter(|s| validate(doc, s, instance, at).is_ok())
                .count();
            let ok = if key == "oneOf" {
                matches == 1
            } else {
                matches >= 1
            };
            if !ok {
                return Err(format!(
                    "{at}: {matches} of the {key} options match {instance}"
                ));
            }
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.iter().any(|t| type_matches(t, instance)) {
            return Err(format!("{at}: {instance} is not of type {t}"));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != instance {
            return Err(format!("{at}: {instance} is not {c}"));
        }
    }
    if let Some(n) = schema.get("not") {
        if validate(doc, n, instance, at).is_ok() {
            return Err(format!("{at}: {instance} matches a `not`"));
        }
    }
    if let Value::String(text) = instance {
        let chars = text.chars().count() as u64;
        if schema["minLength"].as_u64().is_some_and(|min| chars < min) {
            return Err(format!("{at}: {instance} is shorter than minLength"));
        }
        if schema["maxLength"].as_u64().is_some_and(|max| chars > max) {
            return Err(format!("{at}: {instance} is longer than maxLength"));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            let re = regex::Regex::new(pattern).map_err(|e| format!("{at}: pattern {e}"))?;
            if !re.is_match(text) {
                return Err(format!("{at}: {instance} does not match {pattern}"));
            }
        }
        if let Some(format) = schema.get("format").and_then(Value::as_str) {
            if !format_matches(format, text) {
                return Err(format!("{at}: {instance} is not a {format}"));
            }
        }
    }
    if let Some(n) = instance.as_f64() {
        if schema["minimum"].as_f64().is_some_and(|min| n < min) {
            return Err(format!("{at}: {instance} is below the minimum"));
        }
        if schema["maximum"].as_f64().is_some_and(|max| n > max) {
            return Err(format!("{at}: {instance} is above the maximum"));
        }
    }
    if let Value::Array(items) = instance {
        if schema["maxItems"]
            .as_u64()
            .is_some_and(|max| items.len() as u64 > max)
        {
            return Err(format!("{at}: more than maxItems items"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(instance) {
            return Err(format!("{at}: {instance} is not one of {options:?}"));
        }
    }
    if let Value::Object(obj) = instance {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    return Err(format!("{at}: required property {r} is missing"));
                }
            }
        }
        if let Some(props) = props {
            for (k, v) in obj {
                match props.get(k) {
                    Some(s) => validate(doc, s, v, &format!("{at}.{k}"))?,
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        return Err(format!("{at}: additional property {k}"))
                    }
                    None if schema.get("additionalProperties").is_some() => {}
                    None => return Err(format!("{at}: property {k} is not documented")),
                }
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (instance, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            validate(doc, item_schema, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// The formats the document uses, read as JSON Schema reads them.
fn format_matches(format: &str, text: &str) -> bool {
    match format {
        "date" => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .is_ok_and(|d| d.format("%Y-%m-%d").to_string() == text),
        "date-time" => {
            regex::Regex::new(
                r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
            )
            .unwrap()
            .is_match(text)
                && chrono::DateTime::parse_from_rfc3339(text).is_ok()
        }
        "uuid" => text.len() == 36 && uuid::Uuid::try_parse(text).is_ok(),
        // An annotation here: the pattern beside it decides.
        _ => true,
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}
