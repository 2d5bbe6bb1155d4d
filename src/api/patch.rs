//! Patching a JSON document: JSON Patch (RFC 6902: `add`, `remove`,
//! `replace`, `move`, `copy`, `test`), as Kapacitor's PATCH endpoints take,
//! or, when the patch is an object, a merge patch (RFC 7396).

use serde_json::Value;

/// Applies `patch` to `doc`; on error `doc` may be partly patched.
pub fn apply(doc: &mut Value, patch: &Value) -> Result<(), String> {
    match patch {
        Value::Array(ops) => {
            for op in ops {
                operation(doc, op)?;
            }
            Ok(())
        }
        Value::Object(_) => {
            merge(doc, patch);
            Ok(())
        }
        _ => Err("a patch is a list of operations or an object".into()),
    }
}

fn merge(doc: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *doc = patch.clone();
        return;
    };
    if !doc.is_object() {
        *doc = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target) = doc {
        for (k, v) in changes {
            if v.is_null() {
                target.remove(k);
            } else {
                merge(target.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// The reference tokens of a JSON pointer (`/options/channel`).
fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!("bad JSON pointer {pointer:?}"));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// The parent of `path`'s target, and the last token.
fn parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let mut t = tokens(path)?;
    let last = t.pop().ok_or("cannot change the whole document")?;
    let mut at = doc;
    for token in &t {
        at = child(at, token).ok_or_else(|| format!("path {path:?} does not exist"))?;
    }
    Ok((at, last))
}

fn child<'a>(v: &'a mut Value, token: &str) -> Option<&'a mut Value> {
    match v {
        Value::Object(m) => m.get_mut(token),
        Value::Array(a) => token.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    }
}

fn get(doc: &Value, path: &str) -> Result<Value, String> {
    doc.pointer(path)
        .cloned()
        .ok_or_else(|| format!("path {path:?} does not exist"))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let (p, last) = parent(doc, path)?;
    match p {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|&i| i <= a.len())
                    .ok_or_else(|| format!("bad index in {path:?}"))?
            };
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!("path {path:?} does not exist")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (p, last) = parent(doc, path)?;
    let gone = match p {
        Value::Object(m) => m.remove(&last),
        Value::Array(a) => last
            .parse::<usize>()
            .ok()
            .filter(|&i| i < a.len())
            .map(|i| a.remove(i)),
        _ => None,
    };
    gone.ok_or_else(|| format!("path {path:?} does not exist"))
}

fn operation(doc: &mut Value, op: &Value) -> Result<(), String> {
    let text = |k: &str| op.get(k).and_then(Value::as_str);
    let path = text("path").ok_or("an operation needs a path")?;
    let value = || op.get("value").cloned().ok_or("an operation needs a value");
    match text("op") {
        Some("add") => add(doc, path, value()?),
        Some("remove") => remove(doc, path).map(drop),
        Some("replace") => {
            remove(doc, path)?;
            add(doc, path, value()?)
        }
        Some("move") => {
            let from = text("from").ok_or("move needs from")?;
            let v = remove(doc, from)?;
            add(doc, path, v)
        }
        Some("copy") => {
            let from = text("from").ok_or("copy needs from")?;
            let v = get(doc, from)?;
            add(doc, path, v)
        }
        Some("test") => {
            if get(doc, path)? == value()? {
                Ok(())
            } else {
                Err(format!("test failed at {path:?}"))
            }
        }
        other => Err(format!("unknown operation {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_and_merge_patch() {
        let mut doc = json!({"id": "h", "match": "", "options": {"channel": "#a", "x": 1}});
        apply(
            &mut doc,
            &json!([
                {"op": "replace", "path": "/match", "value": "changed()"},
                {"op": "add", "path": "/options/user", "value": "k"},
                {"op": "remove", "path": "/options/x"},
                {"op": "test", "path": "/id", "value": "h"},
            ]),
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"id": "h", "match": "changed()", "options": {"channel": "#a", "user": "k"}})
        );
        apply(&mut doc, &json!({"options": {"user": null}, "kind": "log"})).unwrap();
        assert_eq!(doc["options"], json!({"channel": "#a"}));
        assert_eq!(doc["kind"], "log");
        assert!(apply(&mut doc, &json!([{"op": "remove", "path": "/nope"}])).is_err());
        assert!(
            apply(
                &mut doc,
                &json!([{"op": "test", "path": "/id", "value": "z"}])
            )
            .is_err()
        );
    }
}
