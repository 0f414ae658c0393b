//! Reads back the SVG charts hotpath writes (plotters' SVG: one element per line, attributes
//! in double quotes), so tests can check where lines, points and labels were drawn and derive
//! the value-to-pixel mapping from the axes' own tick labels, independently of the drawing
//! code.

/// A `<polyline>`: a line series, an axis, a tick or a legend sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Polyline {
    /// Stroke colour as written (`#1E5AC8`).
    pub stroke: String,
    /// Stroke width, pixels.
    pub width: f64,
    /// Vertices, pixels.
    pub points: Vec<(f64, f64)>,
}

/// A `<circle>`: a point marker.
#[derive(Clone, Debug, PartialEq)]
pub struct Circle {
    /// Centre, pixels.
    pub cx: f64,
    /// Centre, pixels.
    pub cy: f64,
    /// Radius, pixels.
    pub r: f64,
    /// Fill colour (`none` for a ring).
    pub fill: String,
    /// Stroke colour (`none` for a disc).
    pub stroke: String,
}

/// A `<text>`: a label.
#[derive(Clone, Debug, PartialEq)]
pub struct Text {
    /// Anchor x, pixels.
    pub x: f64,
    /// Anchor y, pixels.
    pub y: f64,
    /// `start`, `middle` or `end`.
    pub anchor: String,
    /// Font size, pixels.
    pub font_size: f64,
    /// Fill colour.
    pub fill: String,
    /// Whether the text is rotated (an axis description).
    pub rotated: bool,
    /// The text, entities decoded.
    pub content: String,
}

/// Every `<svg>…</svg>` document in `html`, in order.
pub fn documents(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let Some(len) = rest[start..].find("</svg>") else {
            break;
        };
        let end = start + len + "</svg>".len();
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    tag[start..].split('"').next()
}

fn num(tag: &str, name: &str) -> Option<f64> {
    attr(tag, name)?.parse().ok()
}

/// The opening tags `<name …>` in `svg`, each with the text up to the next tag.
fn tags<'a>(svg: &'a str, name: &str) -> Vec<(&'a str, &'a str)> {
    let open = format!("<{name} ");
    svg.match_indices(&open)
        .filter_map(|(i, _)| {
            let rest = &svg[i..];
            let close = rest.find('>')?;
            let after = &rest[close + 1..];
            let body = &after[..after.find('<').unwrap_or(after.len())];
            Some((&rest[..close], body))
        })
        .collect()
}

/// Every polyline of `svg`.
pub fn polylines(svg: &str) -> Vec<Polyline> {
    tags(svg, "polyline")
        .into_iter()
        .filter_map(|(t, _)| {
            let points = attr(t, "points")?
                .split_whitespace()
                .map(|p| {
                    let (x, y) = p.split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                })
                .collect::<Option<Vec<(f64, f64)>>>()?;
            Some(Polyline {
                stroke: attr(t, "stroke")?.to_string(),
                width: num(t, "stroke-width")?,
                points,
            })
        })
        .collect()
}

/// Every circle of `svg`.
pub fn circles(svg: &str) -> Vec<Circle> {
    tags(svg, "circle")
        .into_iter()
        .filter_map(|(t, _)| {
            Some(Circle {
                cx: num(t, "cx")?,
                cy: num(t, "cy")?,
                r: num(t, "r")?,
                fill: attr(t, "fill")?.to_string(),
                stroke: attr(t, "stroke")?.to_string(),
            })
        })
        .collect()
}

fn decode(s: &str) -> String {
    s.trim()
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Every text of `svg`.
pub fn texts(svg: &str) -> Vec<Text> {
    tags(svg, "text")
        .into_iter()
        .filter_map(|(t, body)| {
            Some(Text {
                x: num(t, "x")?,
                y: num(t, "y")?,
                anchor: attr(t, "text-anchor").unwrap_or("start").to_string(),
                font_size: num(t, "font-size")?,
                fill: attr(t, "fill").unwrap_or("#000000").to_string(),
                rotated: attr(t, "transform").is_some(),
                content: decode(body),
            })
        })
        .collect()
}

/// The lowest and the highest labelled tick, (value, pixel) each; `None` without ticks.
pub fn outer_ticks(ticks: &[(f64, f64)]) -> Option<((f64, f64), (f64, f64))> {
    let lo = ticks.iter().min_by(|a, b| a.0.total_cmp(&b.0))?;
    let hi = ticks.iter().max_by(|a, b| a.0.total_cmp(&b.0))?;
    Some((*lo, *hi))
}

/// Pixel of `v` on a linear axis, by the map through its outermost labelled ticks (NaN
/// without ticks).
pub fn linear_map(ticks: &[(f64, f64)], v: f64) -> f64 {
    outer_ticks(ticks).map_or(f64::NAN, |(lo, hi)| {
        lo.1 + (v - lo.0) / (hi.0 - lo.0) * (hi.1 - lo.1)
    })
}

/// Pixel of `v` on a log axis, by the map through its outermost labelled ticks (NaN
/// without ticks).
pub fn log_map(ticks: &[(f64, f64)], v: f64) -> f64 {
    outer_ticks(ticks).map_or(f64::NAN, |(lo, hi)| {
        lo.1 + (v.log10() - lo.0.log10()) / (hi.0.log10() - lo.0.log10()) * (hi.1 - lo.1)
    })
}

/// The value at pixel `p` on a log axis, inverting [`log_map`].
pub fn log_value(ticks: &[(f64, f64)], p: f64) -> f64 {
    outer_ticks(ticks).map_or(f64::NAN, |(lo, hi)| {
        let decades = (p - lo.1) / (hi.1 - lo.1) * (hi.0.log10() - lo.0.log10());
        10f64.powf(lo.0.log10() + decades)
    })
}

/// The plotting area and tick marks of a chart, read from its axis lines and labelled ticks.
#[derive(Clone, Debug, PartialEq)]
pub struct Axes {
    /// Left and right pixel of the plotting area (the x axis line).
    pub x_px: (f64, f64),
    /// Top and bottom pixel of the plotting area (the y axis line).
    pub y_px: (f64, f64),
    /// (value, pixel x) of every labelled x tick.
    pub x_ticks: Vec<(f64, f64)>,
    /// (value, pixel y) of every labelled y tick.
    pub y_ticks: Vec<(f64, f64)>,
}

/// The axes of a plotters chart with its axes at the left and bottom: the longest black
/// horizontal and vertical 1-pixel polylines are the axis lines, the short black polylines
/// leaving them are ticks, and a tick's label is the text at its position outside the axis.
pub fn axes(svg: &str) -> Option<Axes> {
    let black: Vec<Polyline> = polylines(svg)
        .into_iter()
        .filter(|p| p.stroke == "#000000" && p.points.len() == 2)
        .collect();
    let horizontal = |p: &&Polyline| p.points[0].1 == p.points[1].1;
    let vertical = |p: &&Polyline| p.points[0].0 == p.points[1].0;
    let span = |a: f64, b: f64| (a - b).abs();
    let x_axis = black.iter().filter(horizontal).max_by(|a, b| {
        span(a.points[0].0, a.points[1].0).total_cmp(&span(b.points[0].0, b.points[1].0))
    })?;
    let y_axis = black.iter().filter(vertical).max_by(|a, b| {
        span(a.points[0].1, a.points[1].1).total_cmp(&span(b.points[0].1, b.points[1].1))
    })?;
    let ax_y = x_axis.points[0].1;
    let ax_x = y_axis.points[0].0;
    let sorted = |a: f64, b: f64| (a.min(b), a.max(b));
    let labels = texts(svg);
    let value = |t: &Text| t.content.parse::<f64>().ok();
    let x_ticks = black
        .iter()
        .filter(vertical)
        .filter(|p| {
            p.points.iter().any(|q| q.1 == ax_y) && span(p.points[0].1, p.points[1].1) < 12.0
        })
        .filter_map(|p| {
            let x = p.points[0].0;
            let t = labels
                .iter()
                .find(|t| !t.rotated && (t.x - x).abs() <= 1.0 && t.y > ax_y)?;
            Some((value(t)?, x))
        })
        .collect();
    let y_ticks = black
        .iter()
        .filter(horizontal)
        .filter(|p| {
            p.points.iter().any(|q| q.0 == ax_x) && span(p.points[0].0, p.points[1].0) < 12.0
        })
        .filter_map(|p| {
            let y = p.points[0].1;
            let t = labels
                .iter()
                .find(|t| !t.rotated && (t.y - y).abs() <= 1.0 && t.x < ax_x)?;
            Some((value(t)?, y))
        })
        .collect();
    Some(Axes {
        x_px: sorted(x_axis.points[0].0, x_axis.points[1].0),
        y_px: sorted(y_axis.points[0].1, y_axis.points[1].1),
        x_ticks,
        y_ticks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plotters_elements() {
        let svg = "<svg width=\"10\">\n\
            <polyline fill=\"none\" opacity=\"1\" stroke=\"#000000\" stroke-width=\"1\" points=\"88,540 883,540 \"/>\n\
            <circle cx=\"5\" cy=\"6\" r=\"4\" opacity=\"1\" fill=\"#000000\" stroke=\"none\" stroke-width=\"1\"/>\n\
            <text x=\"7\" y=\"8\" dy=\"0.5ex\" text-anchor=\"end\" font-family=\"sans-serif\" font-size=\"9.5\" opacity=\"1\" fill=\"#C81E1E\">\n\
            a &lt;b&gt; &amp; c\n\
            </text>\n</svg>";
        let html = format!("<p>x</p>{svg}<p>y</p>{svg}");
        assert_eq!(documents(&html).len(), 2);
        assert_eq!(
            polylines(svg),
            vec![Polyline {
                stroke: "#000000".into(),
                width: 1.0,
                points: vec![(88.0, 540.0), (883.0, 540.0)]
            }]
        );
        let c = &circles(svg)[0];
        assert_eq!(
            (c.cx, c.cy, c.r, c.fill.as_str()),
            (5.0, 6.0, 4.0, "#000000")
        );
        let t = &texts(svg)[0];
        assert_eq!(t.content, "a <b> & c");
        assert_eq!(
            (t.x, t.y, t.anchor.as_str(), t.font_size),
            (7.0, 8.0, "end", 9.5)
        );
    }
}
