//! Building templates: probe objects rendered by the reference encoder, cut at their values'
//! occurrences, and kept only when they reproduce the other probes.

use super::{Form, Inputs, Node, Slot, Template};
use crate::model::{self, FleetSpec, Object, Templated, Val};
use crate::stored::encode::{self, EncodeError, StoreMeta, MAGIC};
use crate::stored::value::MANAGER;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::collections::HashMap;

/// The reference encoder: the bytes today's path sends (the create body, as
/// `serde_json::to_vec`) or stores (the etcd writer's stored value) for `obj` with the
/// create body `body`, its own UID `uid` and creation time `time`.
pub fn reference(
    obj: &Object,
    body: &serde_json::Value,
    form: Form,
    uid: &str,
    time: &str,
) -> Result<Vec<u8>, EncodeError> {
    let format = match form {
        Form::Create => return Ok(serde_json::to_vec(body)?),
        Form::Stored(f) => f,
    };
    let custom = !obj.api.group.is_empty();
    let meta = StoreMeta {
        uid,
        creation_timestamp: time,
        manager: MANAGER,
        is_custom_resource: custom,
        strip_status: custom,
        format,
    };
    if let Some(v) = crate::stored::stored_json::custom_resource(body, &meta) {
        return Ok(v);
    }
    let stored = encode::stored_form(body, &meta);
    if custom {
        Ok(encode::encode_json(&stored))
    } else {
        encode::encode_builtin(&stored, format)
    }
}

/// A probe: an object's values and inputs, and what the reference encoder made of it.
pub(super) struct Probe {
    templated: Templated,
    body: serde_json::Value,
    owners: Vec<String>,
    uid: String,
    time: String,
}

impl Probe {
    /// Probe `n` (distinct owner UIDs, UID and time per probe) of `templated`, whose body
    /// with placeholder owners is `body`.
    fn new(n: u32, templated: Templated, body: &Object) -> Probe {
        let owners: Vec<String> = (0..templated.object.owners.len())
            .map(|o| format!("0ace{n:04x}-{o:04x}-4abc-8def-{:012x}", 0xfeed + n))
            .collect();
        let uids: HashMap<u32, String> = body
            .owners
            .iter()
            .copied()
            .zip(owners.iter().cloned())
            .collect();
        Probe {
            body: model::create_body(body, &uids),
            uid: format!("5e1f{n:04x}-0000-4000-8000-{:012x}", 0xbeef * (n + 1)),
            // Distinct seconds per probe, all with 5-byte varints.
            time: format!(
                "2031-0{}-1{}T0{}:1{}:2{}Z",
                1 + n % 9,
                n % 10,
                n % 10,
                n % 6,
                n % 10
            ),
            owners,
            templated,
        }
    }

    fn inputs(&self) -> (Vec<&str>, &[Val]) {
        (
            self.owners.iter().map(String::as_str).collect(),
            &self.templated.values,
        )
    }

    fn expected(&self, form: Form) -> Option<Vec<u8>> {
        reference(
            &self.templated.object,
            &self.body,
            form,
            &self.uid,
            &self.time,
        )
        .ok()
    }

    /// Each slot with its bytes in `form` for this probe.
    fn needles(&self, protobuf: bool) -> Vec<(Slot, Vec<u8>)> {
        let mut out = Vec::new();
        for (i, v) in self.templated.values.iter().enumerate() {
            let bytes = match v {
                Val::Text(t) => text_bytes(t, protobuf),
                Val::Data(d) if protobuf => d.clone(),
                Val::Data(d) => B64.encode(d).into_bytes(),
            };
            out.push((Slot::Value(i as u16), bytes));
        }
        for (i, o) in self.owners.iter().enumerate() {
            out.push((Slot::Owner(i as u8), text_bytes(o, protobuf)));
        }
        out.push((Slot::Uid, text_bytes(&self.uid, protobuf)));
        let time = if protobuf {
            let mut b = Vec::new();
            super::varint(&mut b, super::parse_time(&self.time).unwrap_or(0));
            b
        } else {
            text_bytes(&self.time, false)
        };
        out.push((Slot::Time, time));
        out
    }
}

fn text_bytes(t: &str, protobuf: bool) -> Vec<u8> {
    if protobuf {
        return t.as_bytes().to_vec();
    }
    let mut b = Vec::with_capacity(t.len());
    encode::escape_into(&mut b, t);
    b
}

/// Probe clusters tried as the template's source, in order; the others check it.
const SOURCES: [u64; 3] = [4_321, 7_919, 31_337];
/// Clusters whose objects check a template: the first one, and one with a 6-digit name.
const CHECKS: [u64; 2] = [0, 100_003];

/// The templates (per form) of the cluster objects of the key whose first and last
/// indices in a cluster's sequence are `first` and `last`.
pub(super) fn cluster_set(fleet: &FleetSpec, first: u32, last: u32) -> [Option<Template>; 3] {
    let probe = |n: u32, c: u64, i: u32| -> Option<Probe> {
        let objs = model::cluster_objects(fleet, c).for_create();
        let t = objs.templated(i)?;
        let obj = objs.get(i)?;
        Some(Probe::new(n, t, &obj))
    };
    let mut checks = Vec::new();
    for (n, &c) in CHECKS.iter().enumerate() {
        checks.extend(probe(10 + n as u32, c, first));
        checks.extend(probe(20 + n as u32, c, last));
    }
    let sources: Vec<Probe> = SOURCES
        .iter()
        .enumerate()
        .filter_map(|(n, &c)| probe(n as u32, c, first))
        .collect();
    // The other source clusters' last objects check too.
    checks.extend(probe(30, SOURCES[0], last));
    templates(&sources, &checks)
}

/// The Namespace templates.
pub(super) fn namespace_set(fleet: &FleetSpec) -> [Option<Template>; 3] {
    let probe = |n: u32, i: u64| {
        let t = model::namespace_templated(fleet, i);
        Probe::new(n, t, &model::namespace_object(fleet, i))
    };
    let sources: Vec<Probe> = SOURCES
        .iter()
        .enumerate()
        .map(|(n, &i)| probe(n as u32, i))
        .collect();
    let checks: Vec<Probe> = CHECKS
        .iter()
        .enumerate()
        .map(|(n, &i)| probe(10 + n as u32, i))
        .collect();
    templates(&sources, &checks)
}

fn templates(sources: &[Probe], checks: &[Probe]) -> [Option<Template>; 3] {
    super::Form::ALL.map(|form| {
        sources.iter().find_map(|source| {
            let t = discover(source, form)?;
            let ok = sources
                .iter()
                .chain(checks)
                .all(|p| reproduces(&t, p, form));
            ok.then_some(t)
        })
    })
}

fn reproduces(t: &Template, p: &Probe, form: Form) -> bool {
    let Some(expected) = p.expected(form) else {
        return false;
    };
    let (owners, values) = p.inputs();
    let inputs = Inputs {
        values,
        owners: &owners,
        uid: &p.uid,
        time: &p.time,
    };
    let mut out = Vec::with_capacity(expected.len());
    t.render(&inputs, &mut out) && out == expected
}

/// The template of `source` in `form`: its reference bytes cut at its values.
fn discover(source: &Probe, form: Form) -> Option<Template> {
    let bytes = source.expected(form)?;
    let protobuf = bytes.starts_with(MAGIC);
    let mut needles = source.needles(protobuf);
    // Longest first: a name inside a longer value (a provider ID) stays inside it.
    needles.sort_by_key(|n| std::cmp::Reverse(n.1.len()));
    needles.retain(|(_, n)| n.len() >= MIN_NEEDLE);
    let nodes = if protobuf {
        let is_secret = source.templated.object.kind == model::Kind::Secret;
        let time = needles
            .iter()
            .find(|(s, _)| *s == Slot::Time)
            .map(|(_, n)| n.clone());
        needles.retain(|(s, _)| *s != Slot::Time);
        let time = time.unwrap_or_default();
        let mut nodes = vec![Node::Lit(MAGIC.to_vec().into())];
        nodes.extend(parse(
            &bytes[MAGIC.len()..],
            Msg::Unknown(is_secret),
            &needles,
            &time,
        )?);
        merge(nodes)
    } else {
        cut(&bytes, &needles)
    };
    Some(Template {
        nodes,
        protobuf,
        values: source.templated.values.len(),
    })
}

/// Values shorter than this are not looked for (they would match constants).
const MIN_NEEDLE: usize = 3;

/// `bytes` as literals and slots: every occurrence of a needle, longest needles first.
fn cut(bytes: &[u8], needles: &[(Slot, Vec<u8>)]) -> Vec<Node> {
    let mut pieces: Vec<Result<Vec<u8>, Slot>> = vec![Ok(bytes.to_vec())];
    for (slot, needle) in needles {
        let mut next = Vec::with_capacity(pieces.len());
        for p in pieces {
            let Ok(lit) = p else {
                next.push(p);
                continue;
            };
            let mut start = 0;
            let mut i = 0;
            while i + needle.len() <= lit.len() {
                if lit[i..i + needle.len()] == needle[..] {
                    next.push(Ok(lit[start..i].to_vec()));
                    next.push(Err(*slot));
                    i += needle.len();
                    start = i;
                } else {
                    i += 1;
                }
            }
            next.push(Ok(lit[start..].to_vec()));
        }
        pieces = next;
    }
    let nodes = pieces
        .into_iter()
        .filter(|p| p.as_ref().map_or(true, |l| !l.is_empty()))
        .map(|p| match p {
            Ok(l) => Node::Lit(l.into()),
            Err(s) => Node::Slot(s),
        })
        .collect();
    merge(nodes)
}

/// Joins adjacent literals.
fn merge(nodes: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::with_capacity(nodes.len());
    for n in nodes {
        match (out.last_mut(), n) {
            (Some(Node::Lit(a)), Node::Lit(b)) => {
                let mut v = a.to_vec();
                v.extend_from_slice(&b);
                *a = v.into();
            }
            (_, n) => out.push(n),
        }
    }
    out
}

/// The protobuf messages of a stored Secret or Namespace (k8s.io/api core/v1 and
/// apimachinery's `runtime.Unknown`), as far as their nesting goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    /// `runtime.Unknown` around a Secret (true) or a Namespace (false).
    Unknown(bool),
    TypeMeta,
    Secret,
    Namespace,
    ObjectMeta,
    Time,
    ManagedFields,
    /// Anything else nested (map entries, owner references, FieldsV1, spec, status): its
    /// fields are strings or varints.
    Flat,
}

/// The message type of field `field` of `msg`, None for a string or bytes field.
fn child(msg: Msg, field: u64) -> Option<Msg> {
    match (msg, field) {
        (Msg::Unknown(_), 1) => Some(Msg::TypeMeta),
        (Msg::Unknown(true), 2) => Some(Msg::Secret),
        (Msg::Unknown(false), 2) => Some(Msg::Namespace),
        (Msg::Secret, 1) | (Msg::Namespace, 1) => Some(Msg::ObjectMeta),
        (Msg::Secret, 2) | (Msg::Namespace, 2 | 3) => Some(Msg::Flat),
        (Msg::ObjectMeta, 8 | 9) | (Msg::ManagedFields, 4) => Some(Msg::Time),
        (Msg::ObjectMeta, 11..=13) | (Msg::ManagedFields, 7) => Some(Msg::Flat),
        (Msg::ObjectMeta, 17) => Some(Msg::ManagedFields),
        _ => None,
    }
}

fn read_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// The fields of `msg` in `b` as nodes: nested messages and strings as [`Node::Len`]
/// (strings cut at the needles), a Time's seconds as [`Slot::Time`] when they are the
/// probe's.
fn parse(b: &[u8], msg: Msg, needles: &[(Slot, Vec<u8>)], time: &[u8]) -> Option<Vec<Node>> {
    let mut nodes = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let start = pos;
        let key = read_varint(b, &mut pos)?;
        let key_bytes: Box<[u8]> = b[start..pos].into();
        match key & 7 {
            0 => {
                let v_start = pos;
                read_varint(b, &mut pos)?;
                nodes.push(Node::Lit(key_bytes));
                if msg == Msg::Time && key >> 3 == 1 && b[v_start..pos] == *time {
                    nodes.push(Node::Slot(Slot::Time));
                } else {
                    nodes.push(Node::Lit(b[v_start..pos].into()));
                }
            }
            2 => {
                let len = usize::try_from(read_varint(b, &mut pos)?).ok()?;
                let content = b.get(pos..pos.checked_add(len)?)?;
                pos += len;
                let children = match child(msg, key >> 3) {
                    Some(m) => parse(content, m, needles, time)?,
                    None => cut(content, needles),
                };
                nodes.push(Node::Len(key_bytes, children));
            }
            _ => return None,
        }
    }
    Some(merge(nodes))
}

#[cfg(test)]
impl Probe {
    pub(super) fn for_test(n: u32, templated: Templated, obj: &Object) -> Probe {
        Probe::new(n, templated, obj)
    }
}

/// The template `source` gives in `form` if it reproduces `source` and `check`.
#[cfg(test)]
pub(super) fn template_for_test(source: &Probe, check: &Probe, form: Form) -> Option<Template> {
    let t = discover(source, form)?;
    (reproduces(&t, source, form) && reproduces(&t, check, form)).then_some(t)
}
