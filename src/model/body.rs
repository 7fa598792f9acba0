//! The body a client sends to create an object of the model.

use super::Object;
use std::collections::HashMap;

/// The body to send for a create: status stripped (controllers write status later through
/// the status subresource) and owner UIDs replaced by the server-assigned ones.
pub fn create_body(obj: &Object, uids: &HashMap<u32, String>) -> serde_json::Value {
    patch_body(obj.body.clone(), obj, uids)
}

/// [`create_body`] taking the body out of `obj` (left `null`) instead of copying it.
pub fn take_create_body(obj: &mut Object, uids: &HashMap<u32, String>) -> serde_json::Value {
    let body = std::mem::take(&mut obj.body);
    patch_body(body, obj, uids)
}

fn patch_body(
    mut body: serde_json::Value,
    obj: &Object,
    uids: &HashMap<u32, String>,
) -> serde_json::Value {
    if let Some(m) = body.as_object_mut() {
        m.remove("status");
    }
    // get_mut, not IndexMut: indexing would insert `"ownerReferences": null`.
    if let Some(refs) = body
        .get_mut("metadata")
        .and_then(|m| m.get_mut("ownerReferences"))
        .and_then(serde_json::Value::as_array_mut)
    {
        for (r, owner) in refs.iter_mut().zip(&obj.owners) {
            if let Some(uid) = uids.get(owner) {
                r["uid"] = serde_json::Value::String(uid.clone());
            }
        }
    }
    body
}
