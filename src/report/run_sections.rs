//! The report's sections on how the run treated itself and its target before and while
//! it measured: the warm-up and the generator (the tool's own resource use).

/// The report's "Warm-up" and "Generator" sections, when the summary has them.
pub fn sections(s: &super::Summary) -> String {
    let mut o = String::new();
    if let Some(w) = &s.warm_up {
        o += &warm_up_markdown(w);
    }
    if let Some(g) = &s.generator {
        o += &super::generator::markdown(g);
    }
    o
}

/// The report's "Warm-up" section.
pub fn warm_up_markdown(w: &super::summary::WarmUp) -> String {
    let mut o = format!(
        "## Warm-up\n\nBefore the clock started: {} CRDs waited for until Established and listed by discovery, then one unmeasured dry-run create of each of {} kinds ({}) in {:.2} s.\n",
        w.crds_established,
        w.kinds_warmed.len(),
        w.kinds_warmed.join(", "),
        w.seconds
    );
    for f in &w.failures {
        o += &format!("- not warmed: {f}\n");
    }
    o + "\n"
}
