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
