//! Byte templates: a create body or stored value rendered once per fleet and structure
//! ([`TemplateKey`]), then patched per object instead of building and serializing a
//! `serde_json::Value` tree.
//!
//! A template is the reference encoder's bytes for one probe object, cut at every place
//! one of the object's varying values ([`Val`]: names, UIDs, hashes, opaque contents), an
//! owner's UID, the object's own UID or its creation time appears. Protobuf values (Secrets
//! and Namespaces in etcd) keep their nested structure, so length prefixes follow the
//! values' lengths. A template is kept only when it reproduces further probe objects of
//! its key (other clusters, including 6-digit cluster names, and the key's last object)
//! byte for byte; a key without one is rendered through the reference encoder (the
//! [`Rendered`] carries the `serde_json::Value` then). The reference encoder stays the
//! oracle: `tests.rs` compares every kind, provider, API version and stored format.
//!
//! Forms: the create body (JSON, what the apiserver receives and `--objects-out` writes)
//! and the stored value of each [`StoredFormat`] (what the etcd writer puts).

mod build;
#[cfg(test)]
mod tests;

pub use build::reference;

use super::encode::{escape_into, StoredFormat};
use crate::model::{self, FleetSpec, Object, TemplateKey, Templated, Val};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::collections::HashMap;

/// Which bytes a template renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The JSON create body (`serde_json::to_vec` of the model's create body).
    Create,
    /// The value kube-apiserver stores in etcd, in this format.
    Stored(StoredFormat),
}

impl Form {
    /// Every form, in the order templates are kept.
    pub const ALL: [Form; 3] = [
        Form::Create,
        Form::Stored(StoredFormat::V1_20),
        Form::Stored(StoredFormat::Current),
    ];

    fn position(self) -> usize {
        match self {
            Form::Create => 0,
            Form::Stored(StoredFormat::V1_20) => 1,
            Form::Stored(StoredFormat::Current) => 2,
        }
    }
}

/// Where a template takes a per-object value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// `Templated::values[i]`.
    Value(u16),
    /// The UID of owner `i`.
    Owner(u8),
    /// The object's own UID (stored forms).
    Uid,
    /// The creation time (stored forms): RFC 3339 in JSON, seconds in protobuf.
    Time,
}

/// A piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    /// Constant bytes.
    Lit(Box<[u8]>),
    /// A per-object value.
    Slot(Slot),
    /// A protobuf length-delimited field: its key bytes, then the length of its children.
    Len(Box<[u8]>, Vec<Node>),
}

/// The per-object inputs of a render.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// The object's varying values.
    pub values: &'a [Val],
    /// Its owners' UIDs, in `Object::owners` order.
    pub owners: &'a [&'a str],
    /// Its own UID (stored forms).
    pub uid: &'a str,
    /// Its creation time, RFC 3339 with seconds (stored forms).
    pub time: &'a str,
}

/// One key's template of one form.
#[derive(Clone, Debug)]
pub struct Template {
    nodes: Vec<Node>,
    protobuf: bool,
    values: usize,
}

impl Template {
    /// Appends the bytes for `inputs` to `out`; false (and `out` unspecified) when the
    /// inputs do not fit the template (another number of values or owners, a time that
    /// does not parse).
    pub fn render(&self, inputs: &Inputs, out: &mut Vec<u8>) -> bool {
        if inputs.values.len() != self.values {
            return false;
        }
        let time_secs = if self.protobuf {
            match parse_time(inputs.time) {
                Some(t) => t,
                None => return false,
            }
        } else {
            0
        };
        let r = Renderer {
            inputs,
            time_secs,
            protobuf: self.protobuf,
        };
        r.write(&self.nodes, out)
    }
}

struct Renderer<'a> {
    inputs: &'a Inputs<'a>,
    time_secs: u64,
    protobuf: bool,
}

impl Renderer<'_> {
    fn write(&self, nodes: &[Node], out: &mut Vec<u8>) -> bool {
        for n in nodes {
            match n {
                Node::Lit(b) => out.extend_from_slice(b),
                Node::Slot(s) => {
                    if !self.slot(*s, out) {
                        return false;
                    }
                }
                Node::Len(key, children) => {
                    out.extend_from_slice(key);
                    let Some(len) = self.size(children) else {
                        return false;
                    };
                    varint(out, len as u64);
                    if !self.write(children, out) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Protobuf size of `nodes` (slots are written raw in protobuf).
    fn size(&self, nodes: &[Node]) -> Option<usize> {
        let mut n = 0;
        for node in nodes {
            n += match node {
                Node::Lit(b) => b.len(),
                Node::Slot(s) => match *s {
                    Slot::Value(i) => match self.inputs.values.get(usize::from(i))? {
                        Val::Text(t) => t.len(),
                        Val::Data(d) => d.len(),
                    },
                    Slot::Owner(i) => self.inputs.owners.get(usize::from(i))?.len(),
                    Slot::Uid => self.inputs.uid.len(),
                    Slot::Time => varint_len(self.time_secs),
                },
                Node::Len(key, children) => {
                    let c = self.size(children)?;
                    key.len() + varint_len(c as u64) + c
                }
            };
        }
        Some(n)
    }

    fn slot(&self, s: Slot, out: &mut Vec<u8>) -> bool {
        let inp = self.inputs;
        let text = match s {
            Slot::Value(i) => match inp.values.get(usize::from(i)) {
                Some(Val::Text(t)) => t.as_str(),
                Some(Val::Data(d)) => {
                    if self.protobuf {
                        out.extend_from_slice(d);
                    } else {
                        base64_into(out, d);
                    }
                    return true;
                }
                None => return false,
            },
            Slot::Owner(i) => match inp.owners.get(usize::from(i)) {
                Some(u) => u,
                None => return false,
            },
            Slot::Uid => inp.uid,
            Slot::Time if self.protobuf => {
                varint(out, self.time_secs);
                return true;
            }
            Slot::Time => inp.time,
        };
        if self.protobuf {
            out.extend_from_slice(text.as_bytes());
        } else {
            escape_into(out, text);
        }
        true
    }
}

/// Appends the standard base64 of `d` to `out`.
fn base64_into(out: &mut Vec<u8>, d: &[u8]) {
    let start = out.len();
    let len = base64::encoded_len(d.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    let written = B64.encode_slice(d, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Seconds of a `YYYY-MM-DDTHH:MM:SSZ` time.
fn parse_time(t: &str) -> Option<u64> {
    let dt = chrono::DateTime::parse_from_rfc3339(t).ok()?;
    u64::try_from(dt.timestamp()).ok()
}

/// Every template of a fleet: one per key and form (or none where no template reproduced
/// the probes). Built once per fleet (tens of milliseconds), shared by all workers.
#[derive(Debug)]
pub struct FleetTemplates {
    sets: Vec<(TemplateKey, [Option<Template>; 3])>,
}

impl FleetTemplates {
    /// Builds the templates of every key of `fleet` (its clusters' objects and Namespaces).
    pub fn new(fleet: &FleetSpec) -> FleetTemplates {
        let mut sets = Vec::new();
        let ns_key = model::namespace_templated(fleet, 0).key;
        sets.push((ns_key, build::namespace_set(fleet)));
        for (key, first, last) in model::template_keys(fleet) {
            sets.push((key, build::cluster_set(fleet, first, last)));
        }
        FleetTemplates { sets }
    }

    /// No templates: every object is rendered by the reference encoder.
    pub fn empty() -> FleetTemplates {
        FleetTemplates { sets: Vec::new() }
    }

    /// The template of `key` in `form`, if one reproduced its probes.
    pub fn get(&self, key: TemplateKey, form: Form) -> Option<&Template> {
        let (_, set) = self.sets.iter().find(|(k, _)| *k == key)?;
        set[form.position()].as_ref()
    }

    /// True when `key` has a template in every form.
    pub fn complete(&self, key: TemplateKey) -> bool {
        Form::ALL.iter().all(|&f| self.get(key, f).is_some())
    }

    /// Keys (and forms) without a template, for tests and diagnostics.
    pub fn missing(&self) -> Vec<(TemplateKey, Form)> {
        let mut out = Vec::new();
        for (k, _) in &self.sets {
            for f in Form::ALL {
                if self.get(*k, f).is_none() {
                    out.push((*k, f));
                }
            }
        }
        out
    }
}

/// One object's create, ready to be rendered in any form: its [`Templated`] values, the
/// owners' UIDs to use and, when its key lacks a template, the model's body.
#[derive(Debug)]
pub struct Rendered<'a> {
    templates: &'a FleetTemplates,
    templated: &'a Templated,
    owners: Vec<&'a str>,
    body: Option<serde_json::Value>,
}

impl<'a> Rendered<'a> {
    /// `templated` with owner UIDs from `uids` (server-assigned, by owner index) or the
    /// placeholders; `body` builds the model's create body when a form has no template.
    pub fn new(
        templates: &'a FleetTemplates,
        templated: &'a Templated,
        uids: &'a HashMap<u32, String>,
        body: impl FnOnce() -> serde_json::Value,
    ) -> Rendered<'a> {
        let owners = templated
            .object
            .owners
            .iter()
            .zip(&templated.owner_uids)
            .map(|(i, placeholder)| uids.get(i).map_or(placeholder.as_str(), String::as_str))
            .collect();
        let body = (!templates.complete(templated.key)).then(body);
        Rendered {
            templates,
            templated,
            owners,
            body,
        }
    }

    /// The object (body `null`).
    pub fn object(&self) -> &Object {
        &self.templated.object
    }

    /// Appends the JSON create body to `out`.
    pub fn create_json(&self, out: &mut Vec<u8>) {
        if !self.render(Form::Create, "", "", out) {
            let body = self.value();
            out.clear();
            let _ = serde_json::to_writer(&mut *out, &body);
        }
    }

    /// The stored value for `format` with `uid` and `time` (RFC 3339, seconds).
    pub fn stored(
        &self,
        format: StoredFormat,
        uid: &str,
        time: &str,
    ) -> Result<Vec<u8>, super::encode::EncodeError> {
        let mut out = Vec::with_capacity(8192);
        if self.render(Form::Stored(format), uid, time, &mut out) {
            return Ok(out);
        }
        reference(
            &self.templated.object,
            &self.value(),
            Form::Stored(format),
            uid,
            time,
        )
    }

    /// The create body as a `serde_json::Value` (the model's, or parsed from the JSON).
    pub fn value(&self) -> serde_json::Value {
        if let Some(b) = &self.body {
            return b.clone();
        }
        let mut out = Vec::with_capacity(8192);
        self.create_json(&mut out);
        serde_json::from_slice(&out).unwrap_or_default()
    }

    fn render(&self, form: Form, uid: &str, time: &str, out: &mut Vec<u8>) -> bool {
        let Some(t) = self.templates.get(self.templated.key, form) else {
            return false;
        };
        let inputs = Inputs {
            values: &self.templated.values,
            owners: &self.owners,
            uid,
            time,
        };
        let start = out.len();
        let ok = t.render(&inputs, out);
        if !ok {
            out.truncate(start);
        }
        ok
    }
}
